"""Derived tables of the real-shaped lake: copies, projections, filters, repeated rows, near misses.

Each function takes a source table (a family's daily table, as generated: before any format's
conversion) and returns the derived table; none changes its input. Containment holds by
construction for copies, projections, filters and repeated rows; near misses keep every column of
the source, including its unique key, so changing one value, adding one row, re-pairing one column
or shifting the key always leaves at least one row that the source does not have.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from r2d2.gen.real_schema import ColumnSpec

__all__ = ["copy_variant", "near_changed", "near_extra_row", "near_repaired", "near_shifted", "projection",
           "rerun", "row_filter", "subset_with_repeats"]

_WIDER_UNIT = {"s": "ms", "ms": "us", "us": "ns"}


def _idx(a: np.ndarray | list[int]) -> pa.Array:
    return pa.array(np.asarray(a, dtype=np.int64))


def _rename_case(names: list[str], rng: np.random.Generator) -> list[str]:
    style = int(rng.integers(3))
    if style == 0:
        return [n.upper() for n in names]
    if style == 1:
        return [n.title() for n in names]
    return [n.upper() if i % 2 == 0 else n for i, n in enumerate(names)]


def copy_variant(t: pa.Table, rng: np.random.Generator) -> pa.Table:
    """The same rows, maybe shuffled, with columns maybe reordered, renamed in another case, widened
    (integers to int64, timestamps to a finer unit) or moved to another time zone (same instants)."""
    out = t.take(_idx(rng.permutation(t.num_rows))) if rng.random() < 0.6 else t
    if rng.random() < 0.35:
        arrays, fields = [], []
        for f, col in zip(out.schema, out.columns, strict=True):
            typ = f.type
            if pa.types.is_integer(typ):
                typ = pa.int64()
            elif pa.types.is_timestamp(typ) and typ.unit in _WIDER_UNIT:
                typ = pa.timestamp(_WIDER_UNIT[typ.unit], tz="America/Chicago" if typ.tz else None)
            arrays.append(col.cast(typ) if typ != f.type else col)
            fields.append(pa.field(f.name, typ))
        out = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    if rng.random() < 0.3:
        out = out.select(list(rng.permutation(out.column_names)))
    if rng.random() < 0.2:
        out = out.rename_columns(_rename_case(out.column_names, rng))
    return out


def projection(t: pa.Table, rng: np.random.Generator, *, keep: str | None = None) -> pa.Table:
    """A proper subset of the columns (with ``keep``, any case, when present), maybe reordered or renamed
    in another case."""
    names = t.column_names
    k = int(rng.integers(1, len(names)))
    chosen = [str(n) for n in rng.choice(names, size=k, replace=False)]
    present = {n.lower(): n for n in names}
    if keep is not None and keep.lower() in present and present[keep.lower()] not in chosen:
        chosen[0] = present[keep.lower()]
    chosen = [n for n in names if n in chosen] if rng.random() < 0.5 else chosen
    out = t.select(chosen)
    if rng.random() < 0.25:
        out = out.rename_columns(_rename_case(out.column_names, rng))
    return out


def row_filter(t: pa.Table, rng: np.random.Generator, schema: tuple[ColumnSpec, ...]) -> np.ndarray:
    """Indices of a non-empty row subset: a category / level value, a key range or a random sample."""
    n = t.num_rows
    how = int(rng.integers(3))
    mask = np.zeros(n, dtype=bool)
    cats = [c for c in schema if c.kind in ("category", "level") and c.name in t.column_names]
    if how == 0 and cats:
        col = cats[int(rng.integers(len(cats)))]
        values = pc.unique(t.column(col.name).drop_null())
        if len(values) > 0:
            pick = values.take(_idx(rng.choice(len(values), size=max(1, len(values) // 2), replace=False)))
            mask = pc.fill_null(pc.is_in(t.column(col.name), value_set=pick), False).to_numpy()
    elif how == 1:
        lo = int(rng.integers(0, max(n // 2, 1)))
        mask[lo:lo + max(1, int(n * rng.uniform(0.1, 0.6)))] = True  # rows are in key order
    if not mask.any() or mask.all():
        mask = rng.random(n) < rng.uniform(0.05, 0.5)
    if not mask.any():
        mask[int(rng.integers(n))] = True
    return np.flatnonzero(mask)


def rerun(t: pa.Table, rng: np.random.Generator) -> pa.Table:
    """A load job that ran twice: all rows, then all or part of them again (same row set)."""
    again = t.slice(0, max(1, int(t.num_rows * rng.choice([0.3, 1.0]))))
    return pa.concat_tables([t, again])


def subset_with_repeats(t: pa.Table, rng: np.random.Generator, rows: np.ndarray) -> pa.Table:
    """The rows ``rows``, each one to three times (at least one row twice): a set subset, not a multiset one."""
    reps = rng.integers(1, 4, len(rows))
    reps[int(rng.integers(len(rows)))] = 2
    return t.take(_idx(rng.permutation(np.repeat(rows, reps))))


# ---------------------------------------------------------------------------------------------------
# near misses


def _varying(t: pa.Table, rng: np.random.Generator, schema: tuple[ColumnSpec, ...], key: str) -> str:
    """A non-key column with at least two distinct non-null values (integers, strings, dates first)."""
    order = [c.name for c in schema if c.kind in ("category", "level", "fk", "count", "code", "date", "flag")]
    order = [n for n in rng.permutation(order)] + [c.name for c in schema if c.kind in ("money", "email")]
    for name in order:
        if name != key and name in t.column_names and len(pc.unique(t.column(name).drop_null())) >= 2:
            return str(name)
    raise RuntimeError("generator bug: no varying column for a near miss")


def _valid(col: pa.ChunkedArray) -> np.ndarray:
    return np.flatnonzero(col.is_valid().to_numpy(zero_copy_only=False))


def _other_row(col: pa.ChunkedArray, row: int, candidates: np.ndarray, rng: np.random.Generator) -> int:
    """A row of ``candidates`` whose value in ``col`` differs from row ``row``'s (no NaN in ``col``)."""
    here = col[row].as_py()
    for r in rng.permutation(candidates):
        if col[int(r)].as_py() != here:
            return int(r)
    raise RuntimeError("generator bug: no row with another value")


def _replace_column(t: pa.Table, name: str, arr: pa.Array | pa.ChunkedArray) -> pa.Table:
    i = t.schema.get_field_index(name)
    return t.set_column(i, t.schema.field(i), arr)


def near_changed(t: pa.Table, rng: np.random.Generator, schema: tuple[ColumnSpec, ...], key: str) -> pa.Table:
    """One cell takes another row's value of the same column: same value sets, same statistics."""
    name = _varying(t, rng, schema, key)
    col = t.column(name)
    valid = _valid(col)
    row = int(rng.choice(valid))
    src = np.arange(t.num_rows)
    src[row] = _other_row(col, row, valid, rng)
    return _replace_column(t, name, col.take(_idx(src)))


def near_repaired(t: pa.Table, rng: np.random.Generator, schema: tuple[ColumnSpec, ...], key: str) -> pa.Table:
    """One column's non-null values rotated by one row: every column's value set is unchanged."""
    name = _varying(t, rng, schema, key)
    col = t.column(name)
    valid = _valid(col)
    src = np.arange(t.num_rows)
    src[valid] = np.roll(valid, 1)
    return _replace_column(t, name, col.take(_idx(src)))


def near_extra_row(t: pa.Table, rng: np.random.Generator, schema: tuple[ColumnSpec, ...], key: str,
                   rows: np.ndarray) -> pa.Table:
    """The rows ``rows`` plus one row made of one row's key and another row's other values."""
    name = _varying(t, rng, schema, key)
    col = t.column(name)
    r1 = int(rng.choice(rows))
    r2 = _other_row(col, r1, np.arange(t.num_rows), rng)  # (a null differs from any value)
    extra = _replace_column(t.take(_idx([r2])), key, t.column(key).take(_idx([r1])))
    return pa.concat_tables([t.take(_idx(rows)), extra])


def near_shifted(t: pa.Table, key: str) -> pa.Table:
    """Every key moved up by one: the key's maximum is one past the source's."""
    col = t.column(key)
    return _replace_column(t, key, pc.add(col, pa.scalar(1, col.type)))
