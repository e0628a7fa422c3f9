"""Arrow type -> logical type family (DESIGN, containment semantics)."""

from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.types as pat

from r2d2.types import Column, Family


def family_of(dtype: pa.DataType) -> tuple[Family, str | None, str | None]:
    """(family, timestamp unit, reason when unsupported) of an Arrow type."""
    if pat.is_dictionary(dtype):
        return family_of(dtype.value_type)
    if pat.is_uint64(dtype):
        return Family.UNSUPPORTED, None, "unsigned 64-bit integers are not supported"
    if pat.is_integer(dtype):
        return Family.INTEGER, None, None
    if pat.is_floating(dtype):
        return Family.FLOAT, None, None
    if pat.is_decimal(dtype):
        return Family.DECIMAL, None, None
    if pat.is_string(dtype) or pat.is_large_string(dtype) or pat.is_string_view(dtype):
        return Family.STRING, None, None
    if (
        pat.is_binary(dtype)
        or pat.is_large_binary(dtype)
        or pat.is_fixed_size_binary(dtype)
        or pat.is_binary_view(dtype)
    ):
        return Family.BINARY, None, None
    if pat.is_boolean(dtype):
        return Family.BOOLEAN, None, None
    if pat.is_date(dtype):
        return Family.DATE, None, None
    if pat.is_timestamp(dtype):
        return Family.TIMESTAMP, dtype.unit, None
    if pat.is_nested(dtype):
        return Family.UNSUPPORTED, None, f"nested type {dtype} is not supported"
    if pat.is_null(dtype):
        return Family.UNSUPPORTED, None, "null-typed columns are not supported"
    if pat.is_time(dtype) or pat.is_duration(dtype) or pat.is_interval(dtype):
        return Family.UNSUPPORTED, None, f"{dtype} columns are not supported"
    return Family.UNSUPPORTED, None, f"type {dtype} is not supported"


def column_of(field: pa.Field) -> Column:
    try:
        hash(field.type)
    except TypeError:  # an extension type defined in Python without a hash: built each time
        return _build(field.name, field.type, field.nullable)
    return _column(field.name, field.type, field.nullable)


def _build(name: str, dtype: pa.DataType, nullable: bool) -> Column:
    family, unit, reason = family_of(dtype)
    return Column(name=name, physical_type=str(dtype), family=family, nullable=nullable, unit=unit, reason=reason)


# Lakes repeat the same few schemas across thousands of small files: a column is built once per
# (name, type, nullability) seen. Columns are frozen, so sharing them is safe.
_column = functools.lru_cache(maxsize=1 << 14)(_build)
