from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import io
import shutil
from pathlib import Path

import lakes
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r2d2.errors import TableReadError
from r2d2.lake.discover import discover
from r2d2.profile import parquet as parquet_mod
from r2d2.profile.families import family_of
from r2d2.profile.parquet import FOOTER_READ_SIZE, footer_bytes_read, profile_parquet, read_footer, read_footers
from r2d2.types import Family, TableProfile


def _profile(path: Path):
    d = discover([str(path)])
    assert not d.errors, d.errors
    (t,) = d.tables
    return profile_parquet(t)


def test_minmax_across_files_and_row_groups(tmp_path: Path) -> None:
    lakes.parquet(
        tmp_path, {"a": pa.array([5, 3, None, 9], pa.int32()), "s": ["m", "c", "x", None]}, row_group_size=2
    )
    lakes.parquet(tmp_path, {"a": pa.array([1, 7], pa.int64()), "s": ["d", "z"]}, name="part-1.parquet")
    with pytest.raises(TableReadError, match=r"schema mismatch.*part-0\.parquet.*part-1\.parquet"):
        _profile(tmp_path)
    lakes.parquet(tmp_path, {"a": pa.array([1, 7], pa.int32()), "s": ["d", "z"]}, name="part-1.parquet")
    p = _profile(tmp_path)
    assert p.num_rows == 6 and p.num_files == 2
    a, s = p.stats["a"], p.stats["s"]
    assert (a.min, a.max, a.min_exact, a.max_exact, a.null_count) == (1, 9, True, True, 1)
    assert (s.min, s.max, s.null_count) == ("c", "z", 1)
    assert p.num_bytes == sum(f.size for f in p.files)
    assert p.bytes_read == p.num_bytes and p.column_bytes["a"] > 0  # small files: pyarrow reads them whole


def test_missing_stats_are_unknown(tmp_path: Path) -> None:
    lakes.parquet(tmp_path, {"a": [1, 2], "b": [1, 2]})
    lakes.parquet(tmp_path, {"a": [0, 5], "b": [0, 5]}, name="part-1.parquet", write_statistics=["b"])
    p = _profile(tmp_path)
    assert p.stats["a"].min is None and p.stats["a"].max is None and p.stats["a"].null_count is None
    assert (p.stats["b"].min, p.stats["b"].max, p.stats["b"].null_count) == (0, 5, 0)


def test_all_null_chunk_is_not_missing(tmp_path: Path) -> None:
    lakes.parquet(tmp_path, {"a": pa.array([None, None, 3, 4], pa.int64())}, row_group_size=2)
    st = _profile(tmp_path).stats["a"]
    assert (st.min, st.max, st.null_count) == (3, 4, 2)


def test_canonical_values(tmp_path: Path) -> None:
    instant = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    paths = []
    for unit in ("s", "ms", "us", "ns"):
        path = lakes.parquet(tmp_path / unit, {"t": pa.array([instant], pa.timestamp(unit, tz="UTC"))})
        paths.append(path)
    values = {(_profile(p).stats["t"].min, _profile(p).stats["t"].max) for p in paths}
    expected = int(instant.timestamp()) * 10**9
    assert values == {(expected, expected)}
    p = _profile(
        lakes.parquet(
            tmp_path / "other",
            {
                "d": pa.array([dt.date(1970, 1, 3)]),
                "dec": pa.array([decimal.Decimal("1.50")], pa.decimal128(5, 2)),
                "b": pa.array([b"\x00\xff"]),
                "f": pa.array([1.5, float("nan")]).slice(0, 1),
                "u": pa.array([7], pa.uint32()),
                "h": pa.array([2.5], pa.float16()),
            },
        )
    )
    assert p.stats["d"].min == 2 and p.stats["dec"].max == "1.50" and p.stats["b"].min == "00ff"
    assert p.stats["f"].max == 1.5 and p.stats["u"].min == 7 and p.stats["h"].max == 2.5
    assert p.column("u").family is Family.INTEGER and p.column("t" if False else "d").family is Family.DATE


def test_families() -> None:
    assert family_of(pa.int32())[0] is family_of(pa.int64())[0] is Family.INTEGER
    assert family_of(pa.uint64()) == (Family.UNSUPPORTED, None, "unsigned 64-bit integers are not supported")
    assert family_of(pa.timestamp("ms", tz="UTC"))[:2] == (Family.TIMESTAMP, "ms")
    assert family_of(pa.dictionary(pa.int8(), pa.string()))[0] is Family.STRING
    for t in (
        pa.struct([("x", pa.int8())]),
        pa.list_(pa.int8()),
        pa.time32("s"),
        pa.duration("s"),
        pa.null(),
    ):
        fam, _, reason = family_of(t)
        assert fam is Family.UNSUPPORTED and reason


def test_long_strings_inexact(tmp_path: Path) -> None:
    lo, hi = "a" * 100, "b" * 100
    p = _profile(lakes.parquet(tmp_path / "full", {"s": [lo, hi]}))
    st = p.stats["s"]
    assert st.min == lo and not st.min_exact and st.max is None and not st.max_exact
    # delta-rs (arrow-rs) writes a 64-byte prefix, the max rounded up: min inexact, max dropped
    lakes.delta(tmp_path / "dl", {"s": [lo, hi]})
    (data,) = (tmp_path / "dl").glob("*.parquet")
    (tmp_path / "rs").mkdir()
    shutil.copy(data, tmp_path / "rs" / "x.parquet")
    st = _profile(tmp_path / "rs").stats["s"]
    assert st.min is not None and lo.startswith(st.min) and len(st.min) <= 64 and not st.min_exact
    assert st.max is None


def test_partition_stats_exact(tmp_path: Path) -> None:
    lakes.partitioned(
        tmp_path,
        {"a": [1, 2, 3, 4], "year": [2020, 2021, 2021, None], "c": ["x", "y", "y", "z"]},
        ["year", "c"],
    )
    p = _profile(tmp_path)
    assert [c.name for c in p.columns] == ["a", "year", "c"]
    assert p.column("year").family is Family.INTEGER and p.column("c").family is Family.STRING
    y = p.stats["year"]
    assert (y.min, y.max, y.min_exact, y.max_exact, y.null_count) == (2020, 2021, True, True, 1)
    assert (p.stats["c"].min, p.stats["c"].max, p.stats["c"].null_count) == ("x", "z", 0)


def test_zero_row_table(tmp_path: Path) -> None:
    p = _profile(lakes.parquet(tmp_path, pa.table({"a": pa.array([], pa.int64())})))
    assert p.num_rows == 0 and p.stats["a"].min is None and p.stats["a"].null_count == 0


def test_nested_columns(tmp_path: Path) -> None:
    p = _profile(lakes.parquet(tmp_path, {"a": [1], "st": [{"x": 1}], "l": [[1, 2]]}))
    assert p.column("st").family is Family.UNSUPPORTED and p.column("l").family is Family.UNSUPPORTED
    assert p.stats["a"].min == 1
    assert {i.code for i in p.issues} == {"unsupported-column"} and len(p.issues) == 2
    assert "column st has unsupported type" in p.issues[0].message + p.issues[1].message
    assert p.column_bytes["st"] > 0


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_corrupt_files(tmp_path: Path, damage: str) -> None:
    lakes.parquet(tmp_path, {"a": list(range(100))})
    f = tmp_path / "part-0.parquet"
    data = f.read_bytes()
    f.write_bytes({"truncate": data[: len(data) // 2], "empty": b"", "garbage": b"x" * 100}[damage])
    with pytest.raises(TableReadError) as info:
        _profile(tmp_path)
    assert str(tmp_path) in str(info.value) and "part-0.parquet" in str(info.value)
    assert info.value.path == str(f)


def test_unicode_names(tmp_path: Path) -> None:
    p = _profile(lakes.parquet(tmp_path / "héllo ✓ %20", {"é": [1, 2]}, name="dätä ✓.parquet"))
    assert p.num_rows == 2 and p.stats["é"].max == 2


class _CountingFile(io.RawIOBase):
    """A file object that counts the bytes pyarrow reads from it."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, *args) -> int:
        return self._f.seek(*args)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, buf) -> int:
        data = self._f.read(len(buf))
        buf[: len(data)] = data
        self.read_bytes += len(data)
        return len(data)


@pytest.mark.parametrize(("ncols", "nrows"), [(2, 10), (2, 100_000), (400, 10), (2_500, 3)])
def test_bytes_read_is_what_pyarrow_reads(tmp_path: Path, ncols: int, nrows: int) -> None:
    """Small file: read whole; big file, small footer: its last 64 KiB; footer over 64 KiB: read twice."""
    lakes.parquet(tmp_path, {f"c{i}": list(range(nrows)) for i in range(ncols)}, row_group_size=max(1, nrows // 3))
    f = tmp_path / "part-0.parquet"
    data = f.read_bytes()
    counting = _CountingFile(data)
    meta = pq.ParquetFile(counting).metadata
    footer = read_footer(str(tmp_path), "part-0.parquet")
    assert footer.footer_bytes == counting.read_bytes == footer_bytes_read(len(data), meta.serialized_size)
    assert footer.footer_bytes >= min(len(data), FOOTER_READ_SIZE)
    p = _profile(tmp_path)
    assert p.bytes_read == footer.footer_bytes and not p.data_read


def test_read_footers_pool_only_for_many_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(6):
        lakes.parquet(tmp_path, {"a": [i]}, name=f"part-{i}.parquet")
    names = [f"part-{i}.parquet" for i in range(6)]
    pools = []
    real_pool = parquet_mod.ThreadPoolExecutor

    def pool(*args, **kw):
        pools.append(kw.get("max_workers"))
        return real_pool(*args, **kw)

    monkeypatch.setattr(parquet_mod, "ThreadPoolExecutor", pool)
    assert [f.path for f in read_footers(str(tmp_path), names[:4])] == names[:4]
    assert pools == []
    assert [f.path for f in read_footers(str(tmp_path), names, max_workers=4)] == names
    assert pools == [4]
    assert [f.path for f in read_footers(str(tmp_path), names, max_workers=1)] == names
    assert pools == [4]


def test_timestamps_over_row_groups_and_files(tmp_path: Path) -> None:
    """The timestamp unit is parsed once per file and column: every row group still gets it."""
    base = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    for i, unit in enumerate(("ms", "us")):
        ts = pa.array([base + dt.timedelta(days=d + 10 * i) for d in range(6)], pa.timestamp(unit, tz="UTC"))
        lakes.parquet(tmp_path / unit, {"t": ts, "n": list(range(6))}, row_group_size=2)
    p = _profile(tmp_path / "ms")
    assert p.stats["t"].min == int(base.timestamp()) * 10**9
    assert p.stats["t"].max == int((base + dt.timedelta(days=5)).timestamp()) * 10**9
    assert p.stats["t"].min_exact and p.stats["t"].null_count == 0 and p.stats["n"].max == 5


def _asdict_json(profile: TableProfile) -> dict:
    """The former TableProfile.to_json (dataclasses.asdict based): the reference output. A file entry
    (a dataclass then, a named tuple now) is a dict in it."""
    data = dataclasses.asdict(profile)
    data["stats"] = {k: dataclasses.asdict(v) for k, v in profile.stats.items()}
    data["files"] = tuple(f._asdict() for f in profile.files)
    data["column_bytes"] = dict(profile.column_bytes)
    return data


def _same_types(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (a != a and b != b)  # NaN


def test_to_json_identical_and_round_trips(tmp_path: Path) -> None:
    lakes.partitioned(
        tmp_path / "t",
        {"a": [1, 2, 3], "s": ["x", None, "z"], "st": [{"x": 1}, None, {"x": 3}], "y": [2020, None, 2021],
         "ts": pa.array([0, 1, 2], pa.timestamp("us", tz="UTC")), "f": [1.5, float("nan"), None]},
        ["y"],
    )
    p = _profile(tmp_path / "t")
    assert p.issues and p.partition_columns == ("y",) and any(f.partition for f in p.files)
    for profile in (p, dataclasses.replace(p, delta_version=3, data_read=True, column_bytes={}, issues=())):
        data = profile.to_json()
        assert _same_types(data, _asdict_json(profile))
        assert TableProfile.from_json(data) == profile
    from r2d2.catalog.db import json_dumps, json_loads

    assert TableProfile.from_json(json_loads(json_dumps(p.to_json()))) == p


def test_iter_profile_tables_yields_as_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from r2d2.profile import profiler

    for i in range(40):
        lakes.parquet(tmp_path / f"t{i:02d}", {"a": [i]})
    (tmp_path / "t07" / "part-0.parquet").write_bytes(b"broken")
    tables = discover([str(tmp_path)]).tables
    out = list(profiler.iter_profile_tables(tables, spark_factory=lambda: None, max_workers=4))  # type: ignore[arg-type,return-value]
    assert sorted(o.location for o in out) == sorted(t.location for t in tables)
    (bad,) = [o for o in out if o.profile is None]
    assert bad.location.endswith("t07") and "part-0.parquet" in (bad.error or "")
    ordered = profiler.profile_tables(tables, spark_factory=lambda: None, max_workers=4)  # type: ignore[arg-type,return-value]
    assert [o.location for o in ordered] == [t.location for t in tables]

    started: list[str] = []
    real = profiler._metadata_profile

    def spy(table):
        started.append(table.location)
        return real(table)

    monkeypatch.setattr(profiler, "_metadata_profile", spy)
    # The pool (used for tables on object stores; local footers are read in the caller's thread).
    gen = profiler._metadata_outcomes(tables, 2)
    next(gen)
    gen.close()  # the tables not yet started are cancelled: at most a window of tasks ran
    assert len(started) <= 2 * 4 + 2 < len(tables)


class _Pair(pa.ExtensionType):
    """An extension type stored as a struct (as pandas' Interval is): one field, two Parquet leaves."""

    def __init__(self) -> None:
        super().__init__(pa.struct([("left", pa.int64()), ("right", pa.int64())]), "r2d2.test.pair")

    def __arrow_ext_serialize__(self) -> bytes:
        return b""

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type: pa.DataType, serialized: bytes) -> _Pair:
        return cls()


def test_columns_after_an_extension_type_stored_as_a_struct_keep_their_own_statistics(tmp_path: Path) -> None:
    """Leaves and fields no longer line up after a struct-backed extension column: statistics are found by
    leaf path, so the next column's bounds are its own, not the extension's second leaf's."""
    pair = _Pair()
    pa.register_extension_type(pair)
    try:
        storage = pa.array([{"left": 1, "right": 100}, {"left": 2, "right": 200}], pair.storage_type)
        table = pa.table({"p": pa.ExtensionArray.from_storage(pair, storage), "x": pa.array([5, 6], pa.int64())})
        (tmp_path / "t").mkdir()
        pq.write_table(table, tmp_path / "t" / "part-0.parquet")
        p = _profile(tmp_path / "t")
    finally:
        pa.unregister_extension_type("r2d2.test.pair")
    x = p.stats["x"]
    assert (x.min, x.max) == (5, 6)
