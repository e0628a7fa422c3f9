"""Lakes on S3, against a real S3 HTTP server on loopback (moto's standalone server, ``s3_endpoint``).

The same lake on local disk and on S3 must give the same tables, edges and multiset flags; the work
folder (hash sets) may be on S3 too, where Spark reads it through s3a and the Python workers through
pyarrow with the storage options they were handed.
"""

from __future__ import annotations

from pathlib import Path

import lakes
import pyarrow as pa
import pytest

from r2d2.catalog import open_catalog
from r2d2.config import load_settings
from r2d2.containment.pipeline import detect
from r2d2.gen.lake import LakeSpec, generate_lake
from r2d2.lake import fs as lakefs
from r2d2.lake.discover import discover
from r2d2.scan import scan


def test_s3_and_s3a_name_one_store(s3_bucket: str) -> None:
    assert lakefs.normalize_location("s3a://b/x/") == "s3://b/x"
    assert lakefs.spark_path("s3://b/x") == "s3a://b/x" and lakefs.spark_path("/a/b") == "file:/a/b"
    lakefs.write_bytes(f"{s3_bucket}/f/x.bin", b"abc")
    assert lakefs.read_bytes(s3_bucket.replace("s3://", "s3a://") + "/f/x.bin") == b"abc"
    assert lakefs.files_under(f"{s3_bucket}/f") == [("x.bin", 3)]


def test_listing_many_prefixes_is_parallel_and_complete(s3_bucket: str) -> None:
    """A tree of 40 folders of 8 objects: listed level by level, many prefixes at a time (the calls
    overlap), and every object is found."""
    import threading
    import time

    for d in range(40):
        for f in range(8):
            lakefs.write_bytes(f"{s3_bucket}/lake/t{d:02d}/part-{f}.parquet", b"x" * (d + f))
    fs, path = lakefs.resolve(f"{s3_bucket}/lake")
    active, peak = [0], [0]
    lock = threading.Lock()
    real = fs.get_file_info

    class Counting:  # the listing calls, counted while they run
        def get_file_info(self, what):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            try:
                time.sleep(0.01)
                return real(what)
            finally:
                with lock:
                    active[0] -= 1

    listed = lakefs.walk(Counting(), path, descend=lambda e: True)  # type: ignore[arg-type]
    files = {e.path for entries in listed.values() if not isinstance(entries, OSError) for e in entries if e.is_file}
    assert len(files) == 320 and peak[0] > 1
    found = discover([f"{s3_bucket}/lake"])
    assert found.errors == [] and len(found.tables) == 40
    assert {len(t.files) for t in found.tables} == {8}


def _edges(result, prefix: str) -> set[tuple]:
    return {(e.parent.removeprefix(prefix), e.child.removeprefix(prefix), e.relation, e.multiset)
            for e in result.edges}


@pytest.mark.slow
def test_generated_lake_on_s3_gives_the_edges_of_local_disk(spark, s3_bucket: str, s3_options, tmp_path: Path) -> None:
    """The generator's lake (every layout: Parquet, hive, CSV, Delta) on local disk and on S3, with the
    S3 run's work folder on S3 and every content step on Spark (reads in Python workers, hash sets
    written there and read back through s3a): the same edges."""
    lake = generate_lake(tmp_path / "lake", LakeSpec.small(), seed=11)
    root = lakes.upload(lake.root, f"{s3_bucket}/lake")
    # containment's content path is what the store changes; the except-keys pass only repeats it
    local = load_settings(home=tmp_path / "local-home", spark_master="local[2]", spark_batch_tables=16,
                          except_keys=False)
    catalog = open_catalog(local.resolved_catalog_url)
    assert scan(catalog, [str(lake.root)], spark_factory=lambda: spark).failed == 0
    here = detect(catalog, local, lambda: spark)

    remote = load_settings(home=tmp_path / "s3-home", spark_master="local[2]", spark_batch_tables=16,
                           storage_options=s3_options, work_folder=f"{s3_bucket}/work",
                           local_read_bytes=0, local_hashset_bytes=0, except_keys=False)
    catalog = open_catalog(remote.resolved_catalog_url)
    summary = scan(catalog, [root.replace("s3://", "s3a://")], spark_factory=lambda: spark)
    assert summary.failed == 0, summary.errors
    there = detect(catalog, remote, lambda: spark)
    assert there.errors == [] and here.errors == []
    assert _edges(there, root) == _edges(here, str(lake.root)) and len(here.edges) > 50
    assert any(name.startswith("hs-") for name, _ in
               {(e.name, 0) for e in lakefs.children(f"{s3_bucket}/work/hashsets")})
    assert not (tmp_path / "s3-home" / "work" / "hashsets").exists()


def test_delta_on_s3_through_delta_rs_and_spark(spark, s3_bucket: str, tmp_path: Path) -> None:
    table = pa.table({"id": list(range(100)), "g": [i % 3 for i in range(100)]})
    lakes.delta(tmp_path / "d", table, partition_by=["g"])
    root = lakes.upload(tmp_path / "d", f"{s3_bucket}/d")
    (found,) = discover([root]).tables
    assert found.format == "delta" and len(found.files) == 3
    from r2d2.engine import delta_source_available
    from r2d2.lake.read import read_table
    from r2d2.profile.profiler import profile_tables

    (outcome,) = profile_tables([found], spark_factory=lambda: spark)
    assert outcome.profile is not None and outcome.profile.num_rows == 100
    assert delta_source_available(spark)
    assert read_table(spark, outcome.profile).count() == 100
