"""Arrow type strings (as profiles store them: ``str(pa.DataType)``) back to Arrow types, and casts."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from r2d2.errors import ReconstructError
from r2d2.types import Column, Family

_SIMPLE: dict[str, pa.DataType] = {
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "halffloat": pa.float16(), "float": pa.float32(), "double": pa.float64(), "bool": pa.bool_(),
    "string": pa.string(), "large_string": pa.large_string(), "string_view": pa.string_view(),
    "binary": pa.binary(), "large_binary": pa.large_binary(), "binary_view": pa.binary_view(),
    "date32[day]": pa.date32(), "date64[ms]": pa.date64(), "null": pa.null(),
}
_TS = re.compile(r"timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]")
_DEC = re.compile(r"decimal(128|256)\((\d+), (-?\d+)\)")
_FSB = re.compile(r"fixed_size_binary\[(\d+)\]")


def arrow_type(text: str) -> pa.DataType:
    """The Arrow type whose ``str()`` is ``text``; ReconstructError when it is not a supported one."""
    if text in _SIMPLE:
        return _SIMPLE[text]
    if m := _TS.fullmatch(text):
        return pa.timestamp(m.group(1), tz=m.group(2))
    if m := _DEC.fullmatch(text):
        make = pa.decimal128 if m.group(1) == "128" else pa.decimal256
        return make(int(m.group(2)), int(m.group(3)))
    if m := _FSB.fullmatch(text):
        return pa.binary(int(m.group(1)))
    raise ReconstructError(f"cannot rebuild a column of Arrow type {text!r}")


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c.physical_type)) for c in columns])


def cast_table(table: pa.Table, target: pa.Schema, source_units: dict[str, str | None]) -> pa.Table:
    """``table`` (columns already named and ordered as ``target``) cast to ``target``'s types.

    ``source_units`` gives, per column, the timestamp unit of raw integer timestamps (Spark reads
    Parquet nanosecond timestamps as longs), so that they are typed before being cast.
    """
    arrays = []
    for name, field in zip(table.column_names, target, strict=True):
        col = table.column(name)
        unit = source_units.get(name)
        if pa.types.is_integer(col.type) and pa.types.is_timestamp(field.type):
            col = pc.cast(col, pa.timestamp(unit or "ns", tz=field.type.tz))
        if pa.types.is_timestamp(col.type) and pa.types.is_timestamp(field.type) and col.type.tz != field.type.tz:
            col = pc.cast(col, pa.timestamp(col.type.unit, tz=field.type.tz))  # same instants, new zone tag
        try:
            arrays.append(col if col.type == field.type else pc.cast(col, field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ReconstructError(f"column {name!r}: cannot cast {col.type} to {field.type}: {exc}") from exc
    return pa.Table.from_arrays(arrays, schema=target)


def same_family(a: Column, b: Column) -> bool:
    return a.family == b.family and a.family is not Family.UNSUPPORTED
