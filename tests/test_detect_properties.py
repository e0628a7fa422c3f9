"""Property test: on random small tables, detection equals the brute-force oracle.

Hypothesis draws parents and children contained in them by construction (projection, row subset,
repeated rows, reordered columns, other name case, integer widths, timestamp units, -0.0, NaN,
nulls, long strings). The tables are written as real Parquet files, scanned and run through all five
stages; the edges found must be exactly the oracle's (no stage may drop a true edge, and no false
edge may survive), and again after an incremental change (a parent loses rows, a table is added), which
runs on the decisions of the first run. Several cases share one lake so that one Spark pipeline run checks
many pairs.
"""

from __future__ import annotations

import decimal
import itertools
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import ColSpec, Table, contained_cases

from r2d2.catalog import EdgeFilter, open_catalog
from r2d2.config import load_settings
from r2d2.containment.pipeline import detect
from r2d2.gen.evaluate import as_truth, score
from r2d2.gen.truth import exact_oracle
from r2d2.scan import scan
from r2d2.types import Family

_counter = itertools.count()


def _arrow_type(spec: ColSpec) -> pa.DataType:
    if spec.family is Family.TIMESTAMP:
        return pa.timestamp(spec.unit or "us", tz="UTC")
    if spec.family is Family.UNSUPPORTED:
        return pa.struct([("a", pa.int64())])
    if m := re.fullmatch(r"decimal128\((\d+), (\d+)\)", spec.physical_type):
        return pa.decimal128(int(m[1]), int(m[2]))
    return {"int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
            "double": pa.float64(), "string": pa.string(), "binary": pa.binary(), "bool": pa.bool_(),
            "date32[day]": pa.date32()}[spec.physical_type]


def _column(spec: ColSpec, values: list) -> pa.Array:
    typ = _arrow_type(spec)
    if spec.family is Family.TIMESTAMP:  # canonical values are ns; the unit decides the scale
        scale = 1000 if spec.unit == "us" else 1
        return pa.array([None if v is None else v // scale for v in values], pa.int64()).cast(typ)
    if spec.family is Family.DATE:
        return pa.array(values, pa.int32()).cast(typ)
    if spec.family is Family.DECIMAL:
        values = [None if v is None else decimal.Decimal(v) for v in values]
    return pa.array(values, typ)


def _arrow(table: Table) -> pa.Table:
    cols = list(zip(*table.rows, strict=True)) if table.rows else [() for _ in table.columns]
    return pa.table({spec.name: _column(spec, list(vals)) for spec, vals in zip(table.columns, cols, strict=True)})


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                HealthCheck.function_scoped_fixture])
@given(cases=st.lists(contained_cases(), min_size=5, max_size=5), data=st.data())
def test_detection_equals_oracle_on_random_tables(spark, tmp_path: Path, cases, data) -> None:
    root = tmp_path / f"lake{next(_counter)}"
    tables: dict[str, pa.Table] = {}
    for i, case in enumerate(cases):
        for role, table in (("parent", case.parent), ("child", case.child)):
            folder = root / f"case{i}_{role}"
            folder.mkdir(parents=True)
            arrow = _arrow(table)
            pq.write_table(arrow, folder / "part-0.parquet")
            tables[str(folder)] = arrow
    home = root.parent / f"{root.name}-home"
    settings_ = load_settings(home=home, spark_master="local[2]")
    catalog = open_catalog(settings_.resolved_catalog_url)
    try:
        summary = scan(catalog, [str(root)], spark_factory=lambda: spark)
        assert summary.failed == 0, summary.errors
        _check(catalog, detect(catalog, settings_, lambda: spark), tables)
        for i in range(len(cases)):  # every planted pair is in the truth, hence found
            assert exact_oracle(tables).holds(str(root / f"case{i}_parent"), str(root / f"case{i}_child"))
        # An incremental run (decisions about unchanged pairs reused, those min-max ruled out settled):
        # a planted parent loses a row (it keeps its schema and often its bounds: only the pair's stored
        # decision could then make it an edge still), a new table copies another; still the oracle's edges.
        parent = str(root / f"case{data.draw(st.integers(0, len(cases) - 1))}_parent")
        rows = tables[parent].num_rows
        if rows > 1:
            gone = data.draw(st.integers(0, rows - 1))
            kept = pa.concat_tables([tables[parent].slice(0, gone), tables[parent].slice(gone + 1)])
        else:
            kept = tables[parent]
        (Path(parent) / "part-0.parquet").unlink()
        pq.write_table(kept, Path(parent) / "part-1.parquet")
        tables[parent] = kept
        copied = data.draw(st.sampled_from(sorted(tables)))
        pq.write_table(tables[copied], _mkdir(root / "zz_copy") / "part-0.parquet")
        tables[str(root / "zz_copy")] = tables[copied]
        assert scan(catalog, [str(root)], spark_factory=lambda: spark).failed == 0
        _check(catalog, detect(catalog, settings_, lambda: spark), tables)
    finally:
        catalog.close()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _check(catalog, result, tables: dict[str, pa.Table]) -> None:
    """The edges found are exactly the oracle's (a dropped one is named with the stage and evidence)."""
    s = score(as_truth(result.edges), exact_oracle(tables))
    if s.false_negatives:  # say which stage dropped it, with its evidence
        stored = {(e.parent_location, e.child_location): e
                  for e in catalog.list_edges(EdgeFilter(include_stale=True))}
        why = [(fn.parent, fn.child, getattr(stored.get((fn.parent, fn.child)), "stage", "no candidate"),
                getattr(stored.get((fn.parent, fn.child)), "evidence", None)) for fn in s.false_negatives]
        raise AssertionError(f"a true edge was dropped: {why}")
    assert s.false_positives == [], "a false edge survived"
    assert s.wrong_flags == []
