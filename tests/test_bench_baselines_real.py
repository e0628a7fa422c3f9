"""The pyarrow-only baselines on a real-shaped lake: brute force finds exactly the truth, the floor reads
every data file once (bench/bruteforce.py, bench/pyarrow_floor.py)."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from r2d2.gen.evaluate import as_truth, score
from r2d2.gen.lake import GeneratedLake, read_table
from r2d2.gen.real import RealLakeSpec, generate_real_lake
from r2d2.lake.discover import discover
from r2d2.types import Family

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bruteforce import NAN, bruteforce, canonical_values
from bench.bruteforce import main as bruteforce_main
from bench.pyarrow_floor import main as floor_main
from bench.pyarrow_floor import read_every_file
from bench.result import edge_set


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> GeneratedLake:
    return generate_real_lake(tmp_path_factory.mktemp("baselines-real") / "lake", RealLakeSpec(tables=150), seed=11)


def _truth_set(lake: GeneratedLake) -> set[tuple[str, str, str, bool]]:
    return {(e.parent, e.child, e.relation, e.multiset) for e in lake.truth.edges}


# --------------------------------------------------------------------------- brute force


def test_bruteforce_finds_exactly_the_truth(lake: GeneratedLake) -> None:
    result = bruteforce([str(lake.root)])
    assert result.stats["tables"] == result.stats["tables_read"] == 150
    assert result.stats["errors"] == []
    got = edge_set(result.edges)
    assert got == _truth_set(lake), (sorted(got - _truth_set(lake))[:5], sorted(_truth_set(lake) - got)[:5])
    sc = score(as_truth(result.edges), lake.truth)
    assert sc.precision == 1.0 and sc.recall == 1.0 and not sc.wrong_flags
    # the lake exercises what brute force must get right: copies across formats, repeated rows
    formats = {(lake.tables[e.parent], lake.tables[e.child]) for e in lake.truth.edges}
    assert any(a != b for a, b in formats)
    assert any(not e.multiset for e in result.edges) and any(e.relation == "duplicate" for e in result.edges)
    on_disk = sum(f.size for t in discover([str(lake.root)]).tables for f in t.files)
    assert result.bytes_read == on_disk


def test_bruteforce_cli_scores_against_a_truth_file(lake: GeneratedLake, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # one domain folder of the lake (its edges are the truth's among its tables): a quicker run
    domain = Counter(Path(loc).relative_to(lake.root).parts[0] for loc in lake.tables).most_common(1)[0][0]
    folder = lake.root / domain
    truth = lake.truth.restrict(loc for loc in lake.tables if loc.startswith(f"{folder}/"))
    assert len(truth) > 0
    truth.save(tmp_path / "truth.json")
    out = tmp_path / "bruteforce.json"
    assert bruteforce_main([str(folder), "--truth", str(tmp_path / "truth.json"), "--json", str(out)]) == 0
    assert "precision 1.0000  recall 1.0000  multiset flags wrong 0" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["precision"] == saved["recall"] == 1.0 and len(saved["edges"]) == len(truth)


def test_canonical_values_follow_the_semantics() -> None:
    floats = canonical_values(pa.array([1.5, -0.0, math.nan, None], pa.float32()), Family.FLOAT)
    assert floats == [1.5, 0.0, NAN, None] and str(floats[1]) == "0.0"
    assert canonical_values(pa.array([float("nan")]), Family.FLOAT)[0] is NAN  # one marker for every NaN
    ms = canonical_values(pa.array([1_000, None], pa.timestamp("ms", tz="Europe/Berlin")), Family.TIMESTAMP)
    ns = canonical_values(pa.array([1_000_000_000, None], pa.timestamp("ns")), Family.TIMESTAMP)
    assert ms == ns == [1_000_000_000, None]
    far = canonical_values(pa.array([300_000_000_000_000], pa.timestamp("ms")), Family.TIMESTAMP)  # year 11476
    assert far == [300_000_000_000_000 * 1_000_000]
    assert canonical_values(pa.array([1, None], pa.int8()), Family.INTEGER) == \
        canonical_values(pa.array([1, None], pa.int64()), Family.INTEGER) == [1, None]
    dec = canonical_values(pa.array([Decimal("1.50"), Decimal("-0.00")], pa.decimal128(10, 2)), Family.DECIMAL)
    assert dec == [Decimal("1.5"), Decimal("0")] and hash(dec[0]) == hash(Decimal("1.500"))
    assert canonical_values(pa.array([19_000, None], pa.date32()), Family.DATE) == [19_000, None]


# --------------------------------------------------------------------------- floor


def test_floor_reads_every_data_file_once(lake: GeneratedLake) -> None:
    tables = discover([str(lake.root)]).tables
    listed = [(t.location, f.path, f.size) for t in tables for f in t.files]
    result = read_every_file([str(lake.root)])
    assert result.tables == 150 and not result.errors
    assert result.files == len(listed) and result.bytes_read == sum(size for *_, size in listed)
    assert result.rows == sum(read_table(loc, fmt).num_rows for loc, fmt in lake.tables.items())
    assert set(result.by_format) == {"parquet", "csv", "delta"}
    assert sum(v["files"] for v in result.by_format.values()) == result.files
    # an overwritten Delta version's files stay on disk but are not read
    delta = [t for t in tables if t.format == "delta"]
    on_disk = sum(1 for t in delta for _ in Path(t.location).rglob("*.parquet"))
    assert on_disk > sum(len(t.files) for t in delta)
    assert result.seconds >= result.read_seconds > 0
    threaded = read_every_file([str(lake.root)], threads=2)
    assert (threaded.files, threaded.bytes_read, threaded.rows) == (result.files, result.bytes_read, result.rows)


def test_floor_cli(lake: GeneratedLake, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "floor.json"
    assert floor_main([str(lake.root), "--json", str(out)]) == 0
    assert "tables 150" in capsys.readouterr().out
    assert json.loads(out.read_text())["tables"] == 150
