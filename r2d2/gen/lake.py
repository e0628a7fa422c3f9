"""Synthetic data lakes with planted, complete ground truth.

A lake is made of *families*. Every family uses its own column-name prefix (``sales_id``,
``f0003_id``, ...), so a table of one family can never contain a table of another (a child's columns
must all exist in the parent by name): there is no accidental containment across families by design.
Inside a family the truth is computed exactly with :func:`~r2d2.gen.truth.exact_oracle` on the
in-memory tables that are written, so it is complete — accidental containments (a projection of A is
contained in a copy of A, nested projections, a near miss that still contains a small filter, ...)
are included. Every planted relation is asserted to hold and every near miss asserted not to.

Layout: every table is its own folder ``<root>/<family>/<table>/`` (Parquet files, CSV files, hive
``key=value`` sub-folders, or a Delta table), so the discovery rules of DESIGN.md find exactly one table
per folder. Locations are absolute paths.

Families:

* the *case* family ``sales`` holds every named case once (see :data:`CASES`);
* *snapshot* families ``fNNNN``: daily snapshots (one day each, ids overlapping by 5% between
  neighbours) plus team copies (duplicates, Parquet and Delta), a rollup of three days, a filter, a
  projection with repeated rows, a CSV export and the four near misses;
* *plain* snapshot families ``pNNNN``: daily snapshots only — the bulk of a real lake: tables that
  share a schema (so every pair is a schema candidate) but hold different days, so no table
  contains another;
* *noise* tables ``nNNN``: unrelated single tables.

Beyond exact containment (``LakeSpec.beyond_exact``, on in :meth:`LakeSpec.small`, off in the
benchmarks' :meth:`LakeSpec.shaped`): the case family and the snapshot families also plant the two
report-only relations (:data:`BEYOND_CASES`, :data:`SNAPSHOT_BEYOND_CASES`) — children with 2-3% of
their rows changed (an ``overlaps`` edge with the exact fraction; one with 15% changed stays below τ)
and children contained except a renumbered or added dense integer key (``contains`` with
``except_columns``) — and the truth covers them completely (:func:`~r2d2.gen.beyond.beyond_oracle`).
The changed rows keep every value inside the parent's min/max and null counts, so that detect
measures them (min-max pruning, sound for containment only, would hide them).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import deltalake
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from r2d2.gen.beyond import beyond_oracle
from r2d2.gen.truth import Truth, exact_oracle

__all__ = ["BEYOND_CASES", "CASES", "SNAPSHOT_BEYOND_CASES", "SNAPSHOT_CASES", "GeneratedLake", "LakeSpec",
           "generate_lake", "read_table"]

#: Named cases of the case family. Each maps to a list of locations, the anchor (parent) first.
CASES: tuple[str, ...] = (
    "base", "exact_copy", "projection", "projection_nested", "row_subset", "projection_subset",
    "chain", "column_reorder", "int_width", "name_case", "timestamp_unit", "delta",
    "delta_overwritten", "csv", "csv_parent", "hive_partitioned", "duplicate_rows_child",
    "nan_null_negzero", "zero_rows", "nested_column",
    "near_miss_same_stats", "near_miss_row_pairing", "near_miss_extra_row", "near_miss_minmax",
)
#: Cases of snapshot families (flat lists over all families: parent, child, parent, child, ...).
SNAPSHOT_CASES: tuple[str, ...] = (
    "snapshot", "team_copy", "rollup", "snapshot_filter", "snapshot_projection", "snapshot_csv_export",
    "snapshot_near_miss_same_stats", "snapshot_near_miss_row_pairing", "snapshot_near_miss_extra_row",
    "snapshot_near_miss_minmax",
)
#: Cases beyond exact containment (``LakeSpec.beyond_exact``), in the case family: the anchor first.
BEYOND_CASES: tuple[str, ...] = ("overlap", "overlap_below_threshold", "except_renumbered_key",
                                 "except_added_index")
#: ... and in every snapshot family (flat lists: parent, child, parent, child, ...).
SNAPSHOT_BEYOND_CASES: tuple[str, ...] = ("snapshot_overlap", "snapshot_except_renumbered_key")

_CASE_FAMILY_TABLES = 29
_SNAPSHOT_DERIVED = 10  # tables of a snapshot family besides its snapshots
_EPOCH_2024 = 19723  # 2024-01-01 in days since 1970-01-01
_DAY_US = 86_400_000_000


@dataclass(frozen=True, kw_only=True)
class LakeSpec:
    """What to generate. Use the presets :meth:`small` and :meth:`shaped`."""

    case_rows: int = 6000  # rows of the case family's base table; 0 leaves the case family out
    snapshot_families: int = 1
    snapshots_per_family: tuple[int, ...] | int = 4  # one number for all families, or one per family
    snapshot_rows: int = 2000
    plain_families: int = 0  # families of daily snapshots with no derived tables
    plain_snapshots: int = 25  # snapshots per plain family
    noise_tables: int = 2
    noise_rows: int = 500
    workers: int = 0  # threads; 0 = os.cpu_count()
    # plant overlaps and containments except generated keys, and compute their truth (module docstring)
    beyond_exact: bool = True
    overlap_threshold: float = 0.9  # τ of the overlaps truth: give the one detect runs with (0: none)
    except_keys: bool = True  # whether the truth has containments except generated keys (as detect's setting)

    @classmethod
    def small(cls) -> LakeSpec:
        """About 50 tables, a few MB, every case at least once: for tests and the demo."""
        return cls()

    @classmethod
    def shaped(cls, num_tables: int, target_bytes: int, *, related: float = 1.0) -> LakeSpec:
        """About ``num_tables`` tables and ``target_bytes`` on disk, in families of >= 20 tables.

        ``related``: the share of families that carry derived tables (copies, rollup, filter,
        projection, export, near misses); the others are plain daily snapshots. 1.0 is the densest
        lake (about three quarters of all tables in a true containment). Exact cases only
        (``beyond_exact`` off): the benchmarks' lakes and truth stay what they were.
        """
        rest = max(num_tables - _CASE_FAMILY_TABLES, 20)
        families = max(1, rest // 25)
        rich = max(1, min(families, round(related * families)))
        plain = families - rich
        plain_tables = plain * 25
        snaps_total = rest - plain_tables - rich * _SNAPSHOT_DERIVED
        per = [snaps_total // rich + (1 if i < snaps_total % rich else 0) for i in range(rich)]
        case_rows = 5000
        case_bytes = 3_000_000
        # in bytes, the derived tables of a family are worth about 9 snapshots (measured)
        units = sum(per) + rich * 9 + plain_tables
        rows = int(max(target_bytes - case_bytes, 0) / (units * _snapshot_bytes_per_row()))
        return cls(case_rows=case_rows, snapshot_families=rich, snapshots_per_family=tuple(per),
                   snapshot_rows=max(rows, 200), plain_families=plain, plain_snapshots=25, noise_tables=0,
                   beyond_exact=False)

    def snapshots(self, family: int) -> int:
        s = self.snapshots_per_family
        return s if isinstance(s, int) else s[family]


@dataclass
class GeneratedLake:
    """A generated lake: where it is, its tables (location -> format), and its complete truth."""

    root: Path
    tables: dict[str, str]
    truth: Truth
    bytes: int
    cases: dict[str, list[str]] = field(default_factory=dict)
    planted: list[tuple[str, str]] = field(default_factory=list)  # (parent, child) that must hold
    near_misses: list[tuple[str, str]] = field(default_factory=list)  # (parent, child) that must not
    seconds: float = 0.0
    # planted beyond exact containment: (parent, child, exact fraction) and (parent, child, key columns)
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)
    excepts: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# writing


@dataclass
class _Table:
    name: str
    data: pa.Table  # the content (current snapshot), as the oracle sees it
    fmt: str = "parquet"  # parquet | csv | delta | hive
    files: int = 1
    row_group_size: int | None = None
    partition: str | None = None  # hive partition column
    stale: pa.Table | None = None  # delta: an earlier version, overwritten


@dataclass
class _Family:
    """What a family builder makes: tables, named cases and planted relations, by table name."""

    tables: list[_Table]
    cases: dict[str, list[str]] = field(default_factory=dict)
    planted: list[tuple[str, str]] = field(default_factory=list)
    near: list[tuple[str, str]] = field(default_factory=list)
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)
    excepts: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)


def _write(t: _Table, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    if t.fmt == "delta":
        if t.stale is not None:
            deltalake.write_deltalake(str(folder), t.stale, mode="overwrite")
        deltalake.write_deltalake(str(folder), t.data, mode="overwrite")
        return "delta"
    if t.fmt == "csv":
        n = t.data.num_rows
        bounds = np.linspace(0, n, t.files + 1).astype(int)
        for k in range(t.files):
            pacsv.write_csv(t.data.slice(bounds[k], bounds[k + 1] - bounds[k]), folder / f"part-{k:05d}.csv")
        return "csv"
    if t.fmt == "hive":
        assert t.partition is not None
        pq.write_to_dataset(t.data, str(folder), partition_cols=[t.partition],
                            basename_template="part-{i}.parquet")
        return "parquet"
    n = t.data.num_rows
    bounds = np.linspace(0, n, t.files + 1).astype(int)
    for k in range(t.files):
        pq.write_table(t.data.slice(bounds[k], bounds[k + 1] - bounds[k]), folder / f"part-{k:05d}.parquet",
                       row_group_size=t.row_group_size)
    return "parquet"


def read_table(location: str | Path, fmt: str) -> pa.Table:
    """Read a generated table back with pyarrow, applying the lake's reader rules.

    Parquet folders are read with hive partitioning (partition values from the path; all-digit values
    are integers, others strings); CSV files have a header and an empty field is null (the only null
    marker); Delta tables are read at their current version.
    """
    location = str(location)
    if fmt == "delta":
        return deltalake.DeltaTable(location).to_pyarrow_table()
    if fmt == "csv":
        files = sorted(Path(location).glob("*.csv")) if Path(location).is_dir() else [Path(location)]
        opts = pacsv.ConvertOptions(null_values=[""], strings_can_be_null=True,
                                    quoted_strings_can_be_null=True)
        parts = [pacsv.read_csv(f, convert_options=opts) for f in files]
        return pa.concat_tables(parts, promote_options="permissive")
    ds = pads.dataset(location, format="parquet", partitioning="hive")
    return ds.to_table()


# ---------------------------------------------------------------------------------------------------
# data helpers (vectorised)


def _strings(prefix: str, ints: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(prefix), pc.cast(pa.array(ints), pa.string()), "")


def _with_nulls(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.nulls(len(arr), arr.type), arr)


def _take(t: pa.Table, idx: np.ndarray) -> pa.Table:
    return t.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _mask(t: pa.Table, m: np.ndarray) -> pa.Table:
    return t.filter(pa.array(np.asarray(m, dtype=bool)))


def _np(t: pa.Table, col: str) -> np.ndarray:
    return t.column(col).to_numpy()


def _replace(t: pa.Table, col: str, arr: pa.Array | np.ndarray) -> pa.Table:
    i = t.schema.get_field_index(col)
    a = arr if isinstance(arr, pa.Array | pa.ChunkedArray) else pa.array(arr, t.schema.field(i).type)
    return t.set_column(i, t.schema.field(i), a)


def _shift_days(col: pa.ChunkedArray, days: int) -> pa.Array:
    shifted = pc.add(pc.cast(col, pa.int32()), pa.scalar(days, pa.int32()))
    return pc.cast(shifted, pa.date32()).combine_chunks()


# ---------------------------------------------------------------------------------------------------
# the case family


def _sales_base(rng: np.random.Generator, n: int) -> pa.Table:
    ids = rng.choice(10 * n, size=n, replace=False).astype(np.int64)
    store = rng.integers(0, 50, n)
    regions = np.array(["north", "south", "east", "west", "centre"], dtype=object)
    region = regions[rng.integers(0, 5, n)]
    product = _with_nulls(_strings("p", rng.integers(10000, 12000, n)), rng.random(n) < 0.03)
    amount = np.round(rng.uniform(-50, 500, n), 2)
    special = rng.choice(n, size=max(n // 10, 40), replace=False)
    k = len(special) // 4
    amount[special[:k]] = np.nan
    amount[special[k:2 * k:2]] = -0.0
    amount[special[k + 1:2 * k:2]] = 0.0
    tricky = [0.30000000000000004, 5e-324, 1e22, 123456789.12345679, -1e-7]
    amount[special[2 * k:2 * k + len(tricky)]] = tricky
    amount_arr = _with_nulls(pa.array(amount), np.isin(np.arange(n), special[3 * k:]))
    qty = _with_nulls(pa.array(rng.integers(1, 21, n)), rng.random(n) < 0.01)
    day = pa.array((_EPOCH_2024 + rng.integers(0, 366, n)).astype(np.int32)).cast(pa.date32())
    ts_ms = _EPOCH_2024 * 86_400_000 + rng.integers(0, 366 * 86_400_000, n)
    ts = pa.array(ts_ms * 1000, pa.timestamp("us"))
    flag = _with_nulls(pa.array(rng.random(n) < 0.5), rng.random(n) < 0.01)
    return pa.table({
        "sales_id": ids, "sales_store": store.astype(np.int64), "sales_region": pa.array(region, pa.string()),
        "sales_product": product, "sales_amount": amount_arr, "sales_qty": qty, "sales_day": day,
        "sales_ts": ts, "sales_flag": flag,
    })


def _changed_rows(rng: np.random.Generator, valid: np.ndarray, share: float) -> np.ndarray:
    """Indices of ``share`` of all the rows (at least one), drawn among the ``valid`` ones."""
    candidates = np.flatnonzero(valid)
    return np.sort(rng.choice(candidates, size=max(1, round(share * len(valid))), replace=False))


def _with_changed_qty(rng: np.random.Generator, t: pa.Table, share: float) -> tuple[pa.Table, int]:
    """``t`` with ``sales_qty`` changed in ``share`` of its rows (non-null ones, kept within 1..20, so
    inside the parent's bounds) and how many rows changed."""
    col = t.column("sales_qty")
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    qty = col.fill_null(0).to_numpy().astype(np.int64)
    rows = _changed_rows(rng, valid, share)
    qty[rows] = qty[rows] % 20 + 1
    return _replace(t, "sales_qty", pa.array(qty, col.type, mask=~valid)), len(rows)


def _case_family_beyond(rng: np.random.Generator, base: pa.Table, fam: _Family) -> None:
    """The case family's overlaps and containments except generated keys (module docstring)."""
    store = _np(base, "sales_store")

    def add(name: str, data: pa.Table, **kw) -> pa.Table:
        fam.tables.append(_Table(name, data, **kw))
        return data

    # 3% of the rows changed: an overlap; 15% changed: below τ = 0.9, no edge at all. Each row of the
    # base is distinct (unique ids), so the fraction is (rows - changed) / rows.
    for name, case, rows, share in (("near_overlap", "overlap", store < 30, 0.03),
                                    ("overlap_below", "overlap_below_threshold", store >= 20, 0.15)):
        child, changed = _with_changed_qty(rng, _mask(base, rows), share)
        add(name, child)
        fam.cases[case] = ["base", name]
        fam.overlaps.append(("base", name, (child.num_rows - changed) / child.num_rows))
        fam.near.append(("base", name))
    # a table numbered 1..n in a shuffled order; a filter of it renumbered 1..m: contained except the
    # number (in the numbered table, and in the base, which has no number at all)
    n = base.num_rows
    numbered = _take(base, rng.permutation(n)).select(
        ["sales_id", "sales_store", "sales_region", "sales_amount", "sales_day"])
    numbered = add("numbered", numbered.add_column(0, "sales_row", pa.array(np.arange(1, n + 1, dtype=np.int64))))
    kept = _mask(numbered, _np(numbered, "sales_store") < 25)
    kept = _take(kept, rng.permutation(kept.num_rows))
    add("renumbered", _replace(kept, "sales_row", np.arange(1, kept.num_rows + 1, dtype=np.int64)), files=2)
    fam.cases["except_renumbered_key"] = ["numbered", "renumbered"]
    fam.excepts += [("numbered", "renumbered", ("sales_row",)), ("base", "renumbered", ("sales_row",))]
    # a generated index the parent lacks (0..m-1), in a Delta table
    top = _mask(base, store >= 40).select(["sales_id", "sales_product", "sales_qty", "sales_day"])
    add("indexed", top.append_column("sales_idx", pa.array(np.arange(top.num_rows, dtype=np.int64))), fmt="delta")
    fam.cases["except_added_index"] = ["base", "indexed"]
    fam.excepts.append(("base", "indexed", ("sales_idx",)))


def _case_family(rng: np.random.Generator, n: int, beyond: bool) -> _Family:
    base = _sales_base(rng, n)
    store = _np(base, "sales_store")
    amount = base.column("sales_amount").to_numpy(zero_copy_only=False)
    amount_valid = base.column("sales_amount").is_valid().to_numpy(zero_copy_only=False)
    day = base.column("sales_day").cast(pa.int32()).to_numpy()
    tables: list[_Table] = []

    def add(name: str, data: pa.Table, **kw) -> str:
        tables.append(_Table(name, data, **kw))
        return name

    add("base", base, files=2)
    add("copy", _take(base, rng.permutation(n)), row_group_size=1000)
    add("reorder", base.select(list(reversed(base.column_names))))
    add("proj_store_region", base.select(["sales_store", "sales_region"]))
    add("proj_wide", base.select(["sales_id", "sales_store", "sales_region", "sales_product",
                                  "sales_amount"]))
    add("filter", _mask(base, store < 25))
    feb = (day >= _EPOCH_2024 + 31) & (day < _EPOCH_2024 + 60)
    add("proj_filter", _mask(base, feb).select(["sales_id", "sales_amount", "sales_day"]))
    add("chain_a", _mask(base, store < 40))
    add("chain_b", _mask(base, store < 30).drop_columns(["sales_flag", "sales_ts"]))
    add("chain_c", _mask(base, store < 20).select(["sales_id", "sales_store", "sales_product"]))
    even = _mask(base, store % 2 == 0)
    add("int32", pa.table({
        "sales_id": even.column("sales_id").cast(pa.int32()),
        "sales_store": even.column("sales_store").cast(pa.int8()),
        "sales_qty": even.column("sales_qty").cast(pa.int16()),
        "sales_amount": even.column("sales_amount"),
    }))
    upper = _mask(base, store >= 25)
    add("upper_case", upper.rename_columns(
        [c.upper() if i % 2 == 0 else c.title() for i, c in enumerate(upper.column_names)]))
    add("ts_ms", pa.table({"sales_id": base.column("sales_id"), "sales_day": base.column("sales_day"),
                           "sales_ts": base.column("sales_ts").cast(pa.timestamp("ms"))}))
    add("delta_subset", _mask(base, (store >= 10) & (store < 35)), fmt="delta")
    stale = _mask(base, store >= 15)
    stale = _replace(stale, "sales_id", pc.negate(stale.column("sales_id")).combine_chunks())
    stale = _replace(stale, "sales_id", pc.subtract(stale.column("sales_id"), 1).combine_chunks())
    add("delta_overwritten", _mask(base, store < 15), fmt="delta", stale=stale)
    csv_cols = ["sales_id", "sales_store", "sales_region", "sales_product", "sales_amount", "sales_day"]
    not_nan = ~(np.isnan(amount) & amount_valid)
    add("csv_subset", _mask(base, (store >= 20) & (store < 45) & not_nan).select(csv_cols), fmt="csv")
    add("csv_full", _mask(base, not_nan).select(csv_cols), fmt="csv", files=2)
    add("csv_child", _mask(base, (store < 5) & not_nan).select(["sales_id", "sales_region", "sales_amount"]))
    add("hive_store", _mask(base, store < 8), fmt="hive", partition="sales_store")
    qty = base.column("sales_qty").fill_null(0).to_numpy()
    add("hive_region", _mask(base, qty > 10).drop_columns(["sales_ts"]), fmt="hive",
        partition="sales_region")
    low = np.flatnonzero(store < 10)
    reps = np.repeat(low, rng.integers(1, 4, len(low)))
    add("dup_rows", _take(base, rng.permutation(reps)))
    special = np.flatnonzero(~amount_valid | np.isnan(amount) | (amount == 0.0))
    nz = _take(base, special).select(["sales_id", "sales_amount", "sales_product"])
    a = nz.column("sales_amount").to_numpy(zero_copy_only=False).copy()
    a_valid = nz.column("sales_amount").is_valid().to_numpy(zero_copy_only=False)
    a[a == 0.0] = np.where(np.signbit(a[a == 0.0]), 0.0, -0.0)  # flip the sign of every zero
    nan_idx = np.flatnonzero(np.isnan(a) & a_valid)
    a.view(np.uint64)[nan_idx[::2]] = np.uint64(0x7FF8000000000123)  # another NaN payload
    add("nan_null_zero", _replace(nz, "sales_amount", _with_nulls(pa.array(a), ~a_valid)))
    add("empty", base.slice(0, 0))
    add("empty_delta", base.slice(0, 0), fmt="delta")
    nested = _mask(base, store < 30)
    info = pa.StructArray.from_arrays(
        [pc.multiply(nested.column("sales_id"), 2).combine_chunks(),
         nested.column("sales_region").combine_chunks()], names=["a", "b"])
    add("nested", nested.append_column("sales_info", info))
    # near misses
    row = n // 2
    while store[row] in (store.min(), store.max()):
        row += 1
    st = store.copy()
    st[row] = st[row] % 48 + 1
    add("near_same_stats", _replace(base, "sales_store", st))
    prod = base.column("sales_product").combine_chunks()
    valid = np.flatnonzero(prod.is_valid().to_numpy(zero_copy_only=False))
    perm = np.arange(n)
    perm[valid] = np.roll(valid, 1)
    add("near_row_pairing", _replace(base, "sales_product", prod.take(pa.array(perm))))
    sub = np.flatnonzero(store < 25)
    r1 = sub[0]
    r2 = next(i for i in sub[1:] if store[i] != store[r1])
    extra = _take(base, np.array([r2]))
    extra = _replace(extra, "sales_id", base.column("sales_id").take([r1]).combine_chunks())
    add("near_extra_row", pa.concat_tables([_mask(base, store < 25), extra]))
    far = base.slice(0, n // 2)
    far = _replace(far, "sales_id", pc.add(far.column("sales_id"), 10 * n).combine_chunks())
    far = _replace(far, "sales_day", _shift_days(far.column("sales_day"), 1200))
    far = _replace(far, "sales_ts", pc.add(far.column("sales_ts"),
                                           pa.scalar(1200 * _DAY_US, pa.duration("us"))).combine_chunks())
    add("near_minmax", far)

    cases = {
        "base": ["base"], "exact_copy": ["base", "copy"],
        "projection": ["base", "proj_store_region", "proj_wide"],
        "projection_nested": ["proj_wide", "proj_store_region"],
        "row_subset": ["base", "filter"], "projection_subset": ["base", "proj_filter"],
        "chain": ["chain_a", "chain_b", "chain_c"], "column_reorder": ["base", "reorder"],
        "int_width": ["base", "int32"], "name_case": ["base", "upper_case"],
        "timestamp_unit": ["base", "ts_ms"], "delta": ["base", "delta_subset"],
        "delta_overwritten": ["base", "delta_overwritten"], "csv": ["base", "csv_subset"],
        "csv_parent": ["csv_full", "csv_child"], "hive_partitioned": ["base", "hive_store", "hive_region"],
        "duplicate_rows_child": ["base", "dup_rows"], "nan_null_negzero": ["base", "nan_null_zero"],
        "zero_rows": ["empty", "empty_delta"], "nested_column": ["nested"],
        "near_miss_same_stats": ["base", "near_same_stats"],
        "near_miss_row_pairing": ["base", "near_row_pairing"],
        "near_miss_extra_row": ["base", "near_extra_row"], "near_miss_minmax": ["base", "near_minmax"],
    }
    planted = [("base", c) for c in ("copy", "reorder", "proj_store_region", "proj_wide", "filter",
                                     "proj_filter", "chain_a", "chain_b", "chain_c", "int32", "upper_case",
                                     "ts_ms", "delta_subset", "delta_overwritten", "csv_subset",
                                     "csv_full", "csv_child", "hive_store", "hive_region", "dup_rows",
                                     "nan_null_zero")]
    planted += [("chain_a", "chain_b"), ("chain_b", "chain_c"), ("chain_a", "chain_c"),
                ("proj_wide", "proj_store_region"), ("csv_full", "csv_child"), ("copy", "proj_wide")]
    near = [("base", c) for c in ("near_same_stats", "near_row_pairing", "near_extra_row", "near_minmax")]
    fam = _Family(tables, cases, planted, near)
    if beyond:  # drawn last: the exact cases stay what they were for a seed
        _case_family_beyond(rng, base, fam)
    return fam


# ---------------------------------------------------------------------------------------------------
# snapshot families


def _snapshot(rng: np.random.Generator, p: str, i: int, rows: int, day: int) -> pa.Table:
    start = i * int(rows * 0.95)
    ids = np.arange(start, start + rows, dtype=np.int64)
    amount = np.round(rng.uniform(0, 1000, rows), 2)
    return pa.table({
        f"{p}_id": ids,
        f"{p}_day": pa.array(np.full(rows, day, dtype=np.int32)).cast(pa.date32()),
        f"{p}_ts": pa.array(day * _DAY_US + rng.integers(0, 86_400, rows) * 1_000_000,
                            pa.timestamp("us", tz="UTC")),
        f"{p}_amount": _with_nulls(pa.array(amount), rng.random(rows) < 0.01),
        f"{p}_qty": pa.array(rng.integers(1, 101, rows).astype(np.int32)),
        f"{p}_cat": _strings("cat_", rng.integers(0, 8, rows)),
        f"{p}_note": _strings("n", rng.integers(0, 10**9, rows)),
    })


def _snapshot_bytes_per_row() -> float:
    t = _snapshot(np.random.default_rng(0), "f0000", 0, 20_000, _EPOCH_2024)
    buf = io.BytesIO()
    pq.write_table(t, buf)
    return len(buf.getvalue()) / t.num_rows


def _snapshot_family(rng: np.random.Generator, p: str, snaps: int, rows: int, beyond: bool) -> _Family:
    tables: list[_Table] = []
    snap = []
    for i in range(snaps):
        t = _snapshot(rng, p, i, rows, _EPOCH_2024 + i)
        snap.append(t)
        tables.append(_Table(f"snap_{i:03d}", t))

    def s(k: int) -> tuple[str, pa.Table]:
        return f"snap_{k % snaps:03d}", snap[k % snaps]

    cases: dict[str, list[str]] = {"snapshot": [f"snap_{i:03d}" for i in range(snaps)]}
    planted: list[tuple[str, str]] = []
    near: list[tuple[str, str]] = []

    def derived(case: str, k: int, name: str, data: pa.Table, miss: bool = False, **kw) -> None:
        parent, _ = s(k)
        tables.append(_Table(name, data, **kw))
        cases.setdefault(case, []).extend([parent, name])
        (near if miss else planted).append((parent, name))

    t0 = s(0)[1]
    derived("team_copy", 0, "team_copy_a", _take(t0, rng.permutation(t0.num_rows)),
            row_group_size=max(rows // 4, 1))
    derived("team_copy", 1, "team_copy_b", s(1)[1], fmt="delta")
    rollup = pa.concat_tables([s(2)[1], s(3)[1], s(4)[1]])
    tables.append(_Table("rollup", rollup, files=3))
    cases["rollup"] = ["rollup", s(2)[0], s(3)[0], s(4)[0]]
    planted += [("rollup", s(k)[0]) for k in (2, 3, 4)]
    t5 = s(5)[1]
    amt = t5.column(f"{p}_amount").fill_null(0).to_numpy()
    derived("snapshot_filter", 5, "filtered", _mask(t5, amt > np.median(amt)))
    derived("snapshot_projection", 6, "projection", s(6)[1].select([f"{p}_cat", f"{p}_day"]))
    derived("snapshot_csv_export", 7, "csv_export",
            s(7)[1].select([f"{p}_id", f"{p}_day", f"{p}_amount", f"{p}_qty", f"{p}_cat", f"{p}_note"]),
            fmt="csv")
    t8 = s(8)[1]
    qty = t8.column(f"{p}_qty").to_numpy().copy()
    row = len(qty) // 2
    while qty[row] in (qty.min(), qty.max()):
        row += 1
    qty[row] = qty[row] % 98 + 2
    derived("snapshot_near_miss_same_stats", 8, "near_same_stats", _replace(t8, f"{p}_qty", qty), miss=True)
    t9 = s(9)[1]
    derived("snapshot_near_miss_row_pairing", 9, "near_row_pairing",
            _replace(t9, f"{p}_note", t9.column(f"{p}_note").take(np.roll(np.arange(t9.num_rows), 1))),
            miss=True)
    t10 = s(10)[1]
    half = t10.slice(0, max(t10.num_rows // 2, 2))
    extra = _replace(t10.slice(1, 1), f"{p}_id", t10.column(f"{p}_id").slice(0, 1).combine_chunks())
    derived("snapshot_near_miss_extra_row", 10, "near_extra_row", pa.concat_tables([half, extra]), miss=True)
    t11 = s(11)[1]
    far = _replace(t11, f"{p}_id", pc.add(t11.column(f"{p}_id"), 10**12).combine_chunks())
    far = _replace(far, f"{p}_day", _shift_days(far.column(f"{p}_day"), 5000))
    far = _replace(far, f"{p}_ts", pc.add(far.column(f"{p}_ts"),
                                          pa.scalar(5000 * _DAY_US, pa.duration("us"))).combine_chunks())
    derived("snapshot_near_miss_minmax", 11, "near_minmax", far, miss=True)
    fam = _Family(tables, cases, planted, near)
    if beyond:  # drawn last: the exact cases stay what they were for a seed
        _snapshot_family_beyond(rng, p, s, fam)
    return fam


def _snapshot_family_beyond(rng: np.random.Generator, p: str, s: Callable[[int], tuple[str, pa.Table]],
                            fam: _Family) -> None:
    """A snapshot family's overlap and containment except a renumbered id (module docstring)."""
    parent, t = s(12)
    amount = t.column(f"{p}_amount")
    a = amount.fill_null(0.0).to_numpy().copy()
    valid = amount.is_valid().to_numpy(zero_copy_only=False)
    lo, hi = float(a[valid].min()), float(a[valid].max())
    rows = _changed_rows(rng, valid & (a > lo) & (a < hi), 0.02)
    up = np.round(a[rows] + 0.01, 2)
    a[rows] = np.where(up <= hi, up, np.round(a[rows] - 0.01, 2))  # a cent away, inside the bounds
    fam.tables.append(_Table("overlap", _replace(t, f"{p}_amount", pa.array(a, mask=~valid))))
    fam.cases["snapshot_overlap"] = [parent, "overlap"]
    fam.overlaps.append((parent, "overlap", (t.num_rows - len(rows)) / t.num_rows))  # ids unique: rows distinct
    fam.near.append((parent, "overlap"))
    parent, t = s(13)
    kept = _mask(t, t.column(f"{p}_qty").to_numpy() > 50).select(
        [f"{p}_id", f"{p}_day", f"{p}_amount", f"{p}_qty", f"{p}_cat", f"{p}_note"])
    renumbered = _replace(kept, f"{p}_id", np.arange(1, kept.num_rows + 1, dtype=np.int64))
    fam.tables.append(_Table("renumbered", renumbered, fmt="csv"))
    fam.cases["snapshot_except_renumbered_key"] = [parent, "renumbered"]
    fam.excepts.append((parent, "renumbered", (f"{p}_id",)))


def _plain_family(rng: np.random.Generator, p: str, snaps: int, rows: int) -> _Family:
    return _Family([_Table(f"snap_{i:03d}", _snapshot(rng, p, i, rows, _EPOCH_2024 + i)) for i in range(snaps)])


def _noise(rng: np.random.Generator, p: str, rows: int) -> _Family:
    t = pa.table({f"{p}_key": rng.permutation(rows).astype(np.int64),
                  f"{p}_val": rng.normal(size=rows), f"{p}_tag": _strings("t", rng.integers(0, 50, rows))})
    return _Family([_Table("table", t)])


# ---------------------------------------------------------------------------------------------------
# driver


def _build_family(root: Path, family: str, builder: Callable[[], _Family], spec: LakeSpec) -> GeneratedLake:
    """Write one family and compute its truth (exact, and beyond it when ``spec.beyond_exact``); the
    planted relations and near misses are checked against it."""
    fam = builder()
    loc = {t.name: str((root / family / t.name).resolve()) for t in fam.tables}
    formats: dict[str, str] = {}
    for t in fam.tables:
        formats[loc[t.name]] = _write(t, root / family / t.name)
    data = {loc[t.name]: t.data for t in fam.tables}
    truth = exact_oracle(data)
    if spec.beyond_exact:
        truth = truth | beyond_oracle(data, truth, overlap_threshold=spec.overlap_threshold,
                                      except_keys=spec.except_keys)
    out = GeneratedLake(root=root, tables=formats, truth=truth, bytes=0,
                        cases={k: [loc[v] for v in vs] for k, vs in fam.cases.items()},
                        planted=[(loc[a], loc[b]) for a, b in fam.planted],
                        near_misses=[(loc[a], loc[b]) for a, b in fam.near],
                        overlaps=[(loc[a], loc[b], f) for a, b, f in fam.overlaps],
                        excepts=[(loc[a], loc[b], k) for a, b, k in fam.excepts])
    for a, b in out.planted:
        if not truth.holds(a, b):
            raise RuntimeError(f"generator bug: planted edge {a} ⊇ {b} does not hold")
    for a, b in out.near_misses:
        if truth.holds(a, b):
            raise RuntimeError(f"generator bug: near miss {a} ⊇ {b} holds")
    overlaps = {(e.parent, e.child): e.fraction for e in truth.overlaps}
    for a, b, f in out.overlaps:
        expected = f if 0 < spec.overlap_threshold <= f else None
        if overlaps.get((a, b)) != expected:
            raise RuntimeError(f"generator bug: planted overlap {a} ~ {b} is {overlaps.get((a, b))}, not {expected}")
    excepts = {(e.parent, e.child): e.except_columns for e in truth.excepts}
    for a, b, k in out.excepts:
        if excepts.get((a, b)) != (k if spec.except_keys else None):
            raise RuntimeError(f"generator bug: planted {a} ⊇ {b} except {k} is {excepts.get((a, b))}")
    return out


def _disk_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def generate_lake(root: Path, spec: LakeSpec, *, seed: int) -> GeneratedLake:
    """Write a lake under ``root`` (created; must be empty or absent) and return it with its truth."""
    t0 = time.perf_counter()
    root = Path(root).resolve()
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    root.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(seed)
    jobs: list[tuple[str, Callable[[], _Family]]] = []
    if spec.case_rows > 0:
        rng = np.random.default_rng(seeds.spawn(1)[0])
        jobs.append(("sales", partial(_case_family, rng, spec.case_rows, spec.beyond_exact)))
    for f in range(spec.snapshot_families):
        rng = np.random.default_rng(seeds.spawn(1)[0])
        jobs.append((f"f{f:04d}", partial(_snapshot_family, rng, f"f{f:04d}", spec.snapshots(f),
                                          spec.snapshot_rows, spec.beyond_exact)))
    for f in range(spec.plain_families):
        rng = np.random.default_rng(seeds.spawn(1)[0])
        jobs.append((f"p{f:04d}", partial(_plain_family, rng, f"p{f:04d}", spec.plain_snapshots,
                                          spec.snapshot_rows)))
    for k in range(spec.noise_tables):
        rng = np.random.default_rng(seeds.spawn(1)[0])
        jobs.append((f"n{k:03d}", partial(_noise, rng, f"n{k:03d}", spec.noise_rows)))
    workers = spec.workers or os.cpu_count() or 1
    lake = GeneratedLake(root=root, tables={}, truth=Truth(), bytes=0)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda job: _build_family(root, job[0], job[1], spec), jobs))
    for r in results:
        lake.tables.update(r.tables)
        lake.truth = lake.truth | r.truth
        for case, locations in r.cases.items():
            lake.cases.setdefault(case, []).extend(locations)
        lake.planted += r.planted
        lake.near_misses += r.near_misses
        lake.overlaps += r.overlaps
        lake.excepts += r.excepts
    lake.bytes = _disk_bytes(root)
    lake.seconds = time.perf_counter() - t0
    return lake
