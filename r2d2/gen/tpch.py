"""A TPC-H lake (via the ``tpchgen-cli`` binary) plus derived tables with known containment.

Layout: ``<root>/tpch/<table>/part-00000.parquet`` for the eight TPC-H tables and
``<root>/derived/<name>/part-00000.parquet`` for the derived ones (one folder per table, as the
discovery rules want). The truth is computed with :func:`~r2d2.gen.truth.exact_oracle` over every
table read back from disk, so accidental containments are included; the planted derived edges are
asserted to be in it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from r2d2.gen.lake import GeneratedLake, read_table
from r2d2.gen.truth import exact_oracle

__all__ = ["TPCH_TABLES", "find_tpchgen", "generate_tpch_lake"]

TPCH_TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")


def find_tpchgen() -> str:
    """The ``tpchgen-cli`` binary: next to the running interpreter, else on PATH."""
    here = Path(sys.executable).parent / "tpchgen-cli"
    if here.exists():
        return str(here)
    found = shutil.which("tpchgen-cli")
    if found is None:
        raise FileNotFoundError("tpchgen-cli not found next to the Python interpreter nor on PATH "
                                "(pip install tpchgen-cli)")
    return found


def _plain_strings(t: pa.Table) -> pa.Table:
    """string_view -> string (what most readers and writers expect), nullability relaxed."""
    fields = []
    for f in t.schema:
        typ = pa.string() if pa.types.is_string_view(f.type) else f.type
        fields.append(pa.field(f.name, typ, nullable=True))
    return t.cast(pa.schema(fields))


def generate_tpch_lake(root: Path, *, scale_factor: float = 0.01) -> GeneratedLake:
    """Write TPC-H tables and derived tables under ``root``; return them with the complete truth."""
    t0 = time.perf_counter()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    exe = find_tpchgen()
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        subprocess.run([exe, "parquet", "-s", str(scale_factor), "-o", tmp, "--no-progress", "-q"],
                       check=True, capture_output=True)
        for name in TPCH_TABLES:
            folder = root / "tpch" / name
            folder.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(tmp) / f"{name}.parquet"), folder / "part-00000.parquet")
    tables: dict[str, str] = {str(root / "tpch" / n): "parquet" for n in TPCH_TABLES}
    data = {n: _plain_strings(read_table(root / "tpch" / n, "parquet")) for n in TPCH_TABLES}

    orders, customer, lineitem, part = data["orders"], data["customer"], data["lineitem"], data["part"]
    ship = pc.cast(lineitem.column("l_shipdate"), pa.int32())
    lo, hi = pc.min(ship).as_py(), pc.max(ship).as_py()
    start = lo + (hi - lo) // 3
    derived = {
        "orders_finished": orders.filter(pc.equal(orders.column("o_orderstatus"), "F")),
        "customer_projection": customer.select(["c_custkey", "c_name", "c_nationkey"]),
        "lineitem_range": lineitem.filter(pc.and_(pc.greater_equal(ship, start),
                                                  pc.less(ship, start + 365))),
        "nation_copy": data["nation"],
        "part_small_brands": part.filter(pc.less(part.column("p_size"), 10)).select(
            ["p_partkey", "p_name", "p_brand", "p_size", "p_retailprice"]),
    }
    for name, t in derived.items():
        folder = root / "derived" / name
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(t, folder / "part-00000.parquet")
        tables[str(folder)] = "parquet"
    planted = [(str(root / "tpch" / p), str(root / "derived" / c)) for p, c in (
        ("orders", "orders_finished"), ("customer", "customer_projection"), ("lineitem", "lineitem_range"),
        ("nation", "nation_copy"), ("part", "part_small_brands"))]
    truth = exact_oracle({loc: read_table(loc, fmt) for loc, fmt in tables.items()})
    for p, c in planted:
        if not truth.holds(p, c):
            raise RuntimeError(f"generator bug: planted edge {p} ⊇ {c} does not hold")
    cases = {"tpch": [str(root / "tpch" / n) for n in TPCH_TABLES],
             **{name: [p, c] for (p, c), name in zip(planted, derived, strict=True)}}
    nbytes = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    return GeneratedLake(root=root, tables=tables, truth=truth, bytes=nbytes, cases=cases, planted=planted,
                         seconds=time.perf_counter() - t0)
