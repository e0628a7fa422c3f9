"""Catalog: schema migrations and repository semantics, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d2.catalog import Catalog, EdgeFilter, EdgeUpsert, open_catalog
from r2d2.catalog.db import (
    VERSION_TABLE,
    alembic_config,
    current_revision,
    dispose_engine,
    get_engine,
    head_revision,
    json_dumps,
    json_loads,
)
from r2d2.catalog.models import Base
from r2d2.errors import CatalogError, NotFoundError
from r2d2.types import Column, ColumnStats, Family, FileEntry, TableProfile

MIGRATIONS = Path(__file__).resolve().parents[1] / "r2d2" / "catalog" / "migrations" / "versions"

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


def make_profile(location: str, fingerprint: str = "fp1", *, columns: tuple[str, ...] = ("id", "Name"),
                 num_rows: int = 10, num_bytes: int = 5_000_000_000) -> TableProfile:
    cols = tuple(
        Column(name=n, physical_type="int64" if i == 0 else "string",
               family=Family.INTEGER if i == 0 else Family.STRING)
        for i, n in enumerate(columns)
    )
    stats = {c.key: ColumnStats(min=1, max=10, min_exact=True, max_exact=True, null_count=0)
             if c.family is Family.INTEGER else ColumnStats(min="a", max="z", null_count=2)
             for c in cols}
    return TableProfile(
        location=location, format="parquet", fingerprint=fingerprint, columns=cols, stats=stats,
        num_rows=num_rows, num_bytes=num_bytes,
        files=(FileEntry(path="part-0.parquet", size=num_bytes, mtime_ns=1, partition=(("d", "1"),)),),
        column_bytes={"id": 10},
    )


@pytest.fixture
def cat(catalog_url: str):
    catalog = open_catalog(catalog_url)
    yield catalog
    catalog.close()


def _edge(parent: int, child: int, pfp: str = "fp1", cfp: str = "fp1", state: str = "verified",
          **kw) -> EdgeUpsert:
    return EdgeUpsert(parent_id=parent, child_id=child, parent_fingerprint=pfp, child_fingerprint=cfp,
                      state=state, stage=kw.pop("stage", "exact"), **kw)  # type: ignore[arg-type]


# --- schema -----------------------------------------------------------------------------------------

def test_migrations_create_schema_idempotently(catalog_url: str) -> None:
    first = open_catalog(catalog_url)
    first.close()
    dispose_engine(catalog_url)  # forget the "already migrated" memo: really re-check the database
    second = open_catalog(catalog_url)
    engine = get_engine(catalog_url)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        version = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    assert {"tables", "table_columns", "sketches", "edges", "runs", "api_tokens", VERSION_TABLE} <= names
    assert version == [head_revision()]
    # head_revision reads file names (no alembic import): alembic's own chain must end at the same head
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [head_revision()]
    second.close()


def test_migrations_match_models(catalog_url: str) -> None:
    open_catalog(catalog_url).close()
    with get_engine(catalog_url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    assert diffs == []


def test_an_older_catalog_upgrades_and_admits_the_whole_vocabulary(catalog_url: str) -> None:
    """A catalog left by a release before the relation ``overlaps`` (migration 0005) upgrades in place on
    first use, keeps its edges, and then stores every relation and state of r2d2.vocabulary, and no
    other name (the constraints derive from the vocabulary; the migrations must keep up)."""
    from alembic import command

    from r2d2.catalog.models import EdgeRow, TableRow
    from r2d2.vocabulary import EDGE_RELATIONS, EDGE_STATES

    now = T0
    engine = get_engine(catalog_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
        ids = [conn.execute(sa.insert(TableRow).values(location=f"/old/{n}", status="active", num_bytes=1,
                                                       num_files=1, first_seen=now, last_seen=now)
                            .returning(TableRow.id)).scalar_one() for n in "pc"]
        conn.execute(sa.insert(EdgeRow).values(parent_id=ids[0], child_id=ids[1], state="verified", stage="exact",
                                               relation="contains", evidence={"missing": 0}, stale=False,
                                               updated_at=now))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # 0005 did not know overlaps
        conn.execute(sa.update(EdgeRow).values(relation="overlaps"))
    dispose_engine(catalog_url)

    cat = open_catalog(catalog_url)
    with get_engine(catalog_url).connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one() == head_revision()
    [kept] = cat.list_edges()
    assert (kept.parent_location, kept.child_location, kept.relation, kept.evidence) == (
        "/old/p", "/old/c", "contains", {"missing": 0})
    for name in ("a", "b"):
        cat.save_profile(make_profile(f"/v/{name}"), seen_at=T0)
    a, b = cat.get_table("/v/a").id, cat.get_table("/v/b").id
    for relation in EDGE_RELATIONS:
        for state in EDGE_STATES:
            cat.upsert_edges([_edge(a, b, state=state, relation=relation)])
            [stored] = cat.list_edges(EdgeFilter(parent="/v/a"))
            assert (stored.relation, stored.state) == (relation, state)
    for bad in ({"relation": "resembles"}, {"state": "maybe"}):
        with pytest.raises(CatalogError, match="constraint"):
            cat.upsert_edges([_edge(a, b, **bad)])


def test_profiles_move_out_of_tables_and_back_keeping_every_row(catalog_url: str) -> None:
    """Migration 0007 moves each profile into table_profiles and drops the column in place: the profiles
    read the same, and no row referencing a table (columns, sketches, edges) is lost. On SQLite a copy
    of ``tables`` would have deleted them all through ON DELETE CASCADE. Downgrading puts them back."""
    from alembic import command

    old = [make_profile("/m/p"), make_profile("/m/c", "fp2", columns=("id",))]
    engine = get_engine(catalog_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0006")
        ids = []
        for p in old:
            ids.append(conn.execute(sa.text(
                "INSERT INTO tables (location, format, status, fingerprint, num_rows, num_bytes, num_files, "
                "profile, first_seen, last_seen) VALUES (:loc, 'parquet', 'active', :fp, 10, 1, 1, :profile, "
                ":now, :now) RETURNING id"), {"loc": p.location, "fp": p.fingerprint,
                                              "profile": json_dumps(p.to_json()), "now": T0}).scalar_one())
            for i, col in enumerate(p.columns):
                conn.execute(sa.text("INSERT INTO table_columns (table_id, ordinal, name, key, family, physical_type) "
                                     "VALUES (:t, :i, :n, :k, :f, 'x')"),
                             {"t": ids[-1], "i": i, "n": col.name, "k": col.key, "f": str(col.family)})
        conn.execute(sa.text("INSERT INTO tables (location, status, num_bytes, num_files, first_seen, last_seen) "
                             "VALUES ('/m/broken', 'error', 0, 0, :now, :now)"), {"now": T0})
        conn.execute(sa.text("INSERT INTO sketches (table_id, fingerprint, kind, key, payload, meta, created_at) "
                             "VALUES (:t, 'fp2', 'minhash', 'id', :b, '{}', :now)"),
                     {"t": ids[1], "b": b"\x01", "now": T0})
        conn.execute(sa.text("INSERT INTO edges (parent_id, child_id, state, stage, relation, evidence, stale, "
                             "updated_at) VALUES (:p, :c, 'verified', 'exact', 'contains', '{}', false, :now)"),
                     {"p": ids[0], "c": ids[1], "now": T0})

    def counts() -> tuple[int, ...]:
        with engine.connect() as conn:
            return tuple(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                         for t in ("tables", "table_columns", "sketches", "edges"))

    before = counts()
    dispose_engine(catalog_url)
    cat = open_catalog(catalog_url)
    assert counts() == before == (3, 3, 1, 1)
    assert [p for _, p in cat.active_profiles()] == old
    assert cat.get_table("/m/c").profile == old[1] and cat.get_table("/m/broken").profile is None
    with engine.connect() as conn:
        assert "profile" not in {c["name"] for c in sa.inspect(conn).get_columns("tables")}
        assert conn.execute(sa.text("SELECT count(*) FROM table_profiles")).scalar_one() == 2

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0006")
    assert counts() == before
    with engine.connect() as conn:
        back = dict(conn.execute(sa.text("SELECT location, profile FROM tables")).all())
        assert "table_profiles" not in sa.inspect(conn).get_table_names()
    assert back["/m/broken"] is None
    assert [TableProfile.from_json(json_loads(back[p.location]) if isinstance(back[p.location], str)
                                   else back[p.location]) for p in old] == old
    with engine.begin() as conn:  # 0005 dropped tables.root: in place too
        command.downgrade(alembic_config(conn), "0004")
    assert counts() == before
    dispose_engine(catalog_url)
    assert [p for _, p in open_catalog(catalog_url).active_profiles()] == old  # and up again
    assert counts() == before


def test_concurrent_first_use(catalog_url: str) -> None:
    code = ("import sys; from r2d2.catalog import open_catalog; "
            "c = open_catalog(sys.argv[1]); c.start_run('scan'); print(len(c.list_runs()) >= 1)")
    procs = [subprocess.Popen([sys.executable, "-c", code, catalog_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    assert len(open_catalog(catalog_url).list_runs(limit=None)) == 3


def test_unreachable_url_gives_clear_error() -> None:
    url = "postgresql+psycopg://someone:s3cret@127.0.0.1:1/nope"
    with pytest.raises(CatalogError) as info:
        open_catalog(url)
    message = str(info.value)
    assert "127.0.0.1:1/nope" in message and "someone" in message
    assert "s3cret" not in message
    dispose_engine(url)


def test_sqlite_parent_folder_is_created(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'cat.sqlite'}"
    with open_catalog(url) as cat:
        assert cat.count_tables() == 0
    assert (tmp_path / "a" / "b" / "cat.sqlite").exists()


# --- tables -----------------------------------------------------------------------------------------

def test_save_profile_new_roundtrip(cat: Catalog) -> None:
    profile = make_profile("/lake/a")
    assert cat.save_profile(profile, seen_at=T0) == "new"
    rec = cat.get_table("/lake/a")
    assert rec.status == "active" and rec.fingerprint == "fp1" and rec.format == "parquet"
    assert rec.num_rows == 10 and rec.num_bytes == 5_000_000_000 and rec.num_files == 1
    assert rec.first_seen == rec.last_seen == rec.profiled_at == T0
    assert rec.first_seen.tzinfo is not None and rec.first_seen.utcoffset() == timedelta(0)
    assert rec.profile == profile
    assert cat.get_table_by_id(rec.id) == rec
    assert cat.fingerprints() == {"/lake/a": "fp1"}
    assert cat.active_profiles() == [(rec.id, profile)]
    with get_engine(cat._url).connect() as conn:
        cols = conn.execute(sa.text(
            "SELECT ordinal, name, key, family FROM table_columns WHERE table_id = :t ORDER BY ordinal"),
            {"t": rec.id}).all()
    assert [tuple(c) for c in cols] == [(0, "id", "id", "integer"), (1, "Name", "name", "string")]


def test_save_profile_unchanged_and_changed(cat: Catalog) -> None:
    cat.save_profile(make_profile("/lake/p"), seen_at=T0)
    cat.save_profile(make_profile("/lake/c"), seen_at=T0)
    cat.save_profile(make_profile("/lake/x"), seen_at=T0)
    p, c, x = (cat.get_table(f"/lake/{n}").id for n in "pcx")
    cat.upsert_edges([_edge(p, c), _edge(x, p)])
    cat.put_sketches(p, "fp1", "minhash", {"id": (b"\x01\x02", {"n": 1}), "name": (b"\x03", {})})
    cat.put_sketches(c, "fp1", "minhash", {"id": (b"\x09", {})})

    assert cat.save_profile(make_profile("/lake/p"), seen_at=T1) == "unchanged"
    rec = cat.get_table("/lake/p")
    assert rec.last_seen == T1 and rec.profiled_at == T0 and rec.first_seen == T0
    assert len(cat.get_sketches(p, "fp1", "minhash")) == 2
    assert not any(e.stale for e in cat.list_edges(EdgeFilter(include_stale=True)))

    changed = make_profile("/lake/p", "fp2", columns=("id", "Name", "extra"), num_rows=20)
    assert cat.save_profile(changed, seen_at=T2) == "changed"
    rec = cat.get_table("/lake/p")
    assert (rec.fingerprint, rec.num_rows, rec.profiled_at, rec.first_seen) == ("fp2", 20, T2, T0)
    assert rec.profile == changed
    assert cat.get_sketches(p, "fp1", "minhash") == {}
    assert cat.get_sketches(c, "fp1", "minhash") == {"id": (b"\x09", {})}  # other tables untouched
    edges = cat.list_edges(EdgeFilter(include_stale=True))
    assert {(e.parent_id, e.child_id): e.stale for e in edges} == {(p, c): True, (x, p): True}
    assert cat.list_edges() == []
    with get_engine(cat._url).connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM table_columns WHERE table_id = :t"), {"t": p}).scalar()
    assert n == 3


def _state(cat: Catalog, prefix: str) -> dict:
    """Everything save_profile(s) writes about the tables under ``prefix``, with ids and the prefix
    taken out (so that two halves of one catalog can be compared)."""
    cut = len(prefix)
    tables = {t.id: t for t in cat.list_tables(prefix=prefix)}
    names = {tid: t.location[cut:] for tid, t in tables.items()}
    with get_engine(cat._url).connect() as conn:
        cols = conn.execute(sa.text(
            "SELECT table_id, ordinal, name, key, family, physical_type FROM table_columns")).all()
        sketches = conn.execute(sa.text("SELECT table_id, fingerprint, kind, key FROM sketches")).all()
    rows = {}
    for tid, t in tables.items():
        profile = t.profile
        if profile is not None:
            profile = TableProfile.from_json({**profile.to_json(), "location": profile.location[cut:]})
        rows[names[tid]] = (t.format, t.status, t.fingerprint, t.num_rows, t.num_bytes, t.num_files,
                            t.error, t.first_seen, t.last_seen, t.profiled_at, t.gone_at, profile)
    return {
        "tables": rows,
        "columns": sorted((names[c[0]], *c[1:]) for c in cols if c[0] in names),
        "sketches": sorted((names[k[0]], *k[1:]) for k in sketches if k[0] in names),
        "edges": sorted((e.parent_location[cut:], e.child_location[cut:], e.stale)
                        for e in cat.list_edges(EdgeFilter(include_stale=True))
                        if e.parent_location.startswith(prefix) and e.child_location.startswith(prefix)),
    }


def test_save_profiles_equivalent_to_save_profile(cat: Catalog) -> None:
    """The same history applied one table at a time (/one) and in batches (/many) gives the same
    outcomes and the same catalog: new, unchanged, changed, come-back from error and from gone,
    a location repeated in one batch, batches split into several transactions."""
    def prof(prefix: str, name: str, fp: str = "fp1", **kw) -> TableProfile:
        p = make_profile(f"{prefix}/{name}", fp, **kw)
        return TableProfile.from_json({**p.to_json(), "column_bytes": {"id": len(name)}})

    def history(prefix: str, save) -> list[list[str]]:
        out = [save([prof(prefix, n) for n in ("p", "c", "x", "e", "g")], T0)]
        ids = {t.location[len(prefix):]: t.id for t in cat.list_tables(prefix=prefix)}
        cat.upsert_edges([_edge(ids["/p"], ids["/c"]), _edge(ids["/x"], ids["/p"]),
                          _edge(ids["/c"], ids["/x"]), _edge(ids["/e"], ids["/x"])])
        cat.put_sketches(ids["/p"], "fp1", "minhash", {"id": (b"\x01", {})})
        cat.put_sketches(ids["/p"], "fp2", "minhash", {"name": (b"\x02", {})})
        cat.put_sketches(ids["/c"], "fp1", "minhash", {"id": (b"\x03", {})})
        cat.save_error(f"{prefix}/e", error="boom", seen_at=T1, fingerprint="fp1")
        cat.mark_gone(roots=[f"{prefix}/g"], seen=set(), seen_at=T1)
        out.append(save([
            prof(prefix, "p", "fp2", columns=("id", "Name", "extra"), num_rows=20),  # changed
            prof(prefix, "c"),  # unchanged
            prof(prefix, "e"),  # back from error, same fingerprint: changed
            prof(prefix, "g"),  # back from gone: changed
            prof(prefix, "n", columns=("k",)),  # new
            prof(prefix, "r"), prof(prefix, "r", "fp3", columns=("a", "b", "c")),  # repeated: new, changed
            prof(prefix, "c"),  # repeated, unchanged
        ], T2))
        return out

    one = history("/one", lambda ps, at: [cat.save_profile(p, seen_at=at) for p in ps])
    many = history("/many", lambda ps, at: cat.save_profiles(ps, seen_at=at, batch_size=3))
    assert one == many == [["new"] * 5,
                           ["changed", "unchanged", "changed", "changed", "new", "new", "changed", "unchanged"]]
    a, b = _state(cat, "/one"), _state(cat, "/many")
    assert a == b
    assert len(a["tables"]) == 7 and a["sketches"] == [("/c", "fp1", "minhash", "id"),
                                                       ("/p", "fp2", "minhash", "name")]
    assert [e[2] for e in a["edges"]] == [False, True, True, True]  # only c -> x, untouched, is fresh
    assert cat.save_profiles([], seen_at=T2) == []


def test_save_profiles_many_tables(cat: Catalog) -> None:
    """Over several transactions, each new row gets its own columns (ids returned in order)."""
    profiles = [make_profile(f"/bulk/t{i:05d}", columns=("id", f"c{i}"), num_rows=i) for i in range(1_203)]
    assert cat.save_profiles(profiles, seen_at=T0) == ["new"] * 1_203
    assert cat.save_profiles(profiles[::2], seen_at=T1) == ["unchanged"] * 602
    with get_engine(cat._url).connect() as conn:
        cols = conn.execute(sa.text(
            "SELECT t.location, t.num_rows, c.name FROM table_columns c JOIN tables t ON t.id = c.table_id "
            "WHERE c.ordinal = 1")).all()
    assert sorted(cols) == sorted((p.location, p.num_rows, f"c{p.num_rows}") for p in profiles)
    assert cat.count_tables() == 1_203
    assert {t.last_seen for t in cat.list_tables(prefix="/bulk/t0000", with_profile=False)} == {T0, T1}
    assert cat.get_table("/bulk/t01202").profile == profiles[-1]


def test_touch_seen(cat: Catalog) -> None:
    locations = [f"/lake/t{i:04d}" for i in range(3)]
    for loc in locations:
        cat.save_profile(make_profile(loc), seen_at=T0)
    assert cat.touch_seen([*locations, "/lake/unknown"], seen_at=T1) == 3
    assert {t.last_seen for t in cat.list_tables()} == {T1}
    cat.mark_gone(roots=["/lake"], seen={"/lake/t0000", "/lake/t0001"}, seen_at=T1)
    assert cat.touch_seen(locations, seen_at=T2) == 2
    assert cat.get_table("/lake/t0002").last_seen == T1


def test_touch_seen_many_locations(cat: Catalog) -> None:
    engine = get_engine(cat._url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO tables (location, status, num_bytes, num_files, first_seen, last_seen) "
            "VALUES (:loc, 'active', 0, 0, :t, :t)"),
            [{"loc": f"/lake/m{i:05d}", "t": T0.replace(tzinfo=None) if engine.dialect.name == "sqlite"
              else T0} for i in range(10_000)])
    assert cat.touch_seen((f"/lake/m{i:05d}" for i in range(10_000)), seen_at=T1) == 10_000
    assert cat.count_tables() == 10_000
    assert {t.last_seen for t in cat.list_tables(limit=5, offset=9_995, with_profile=False)} == {T1}


def test_save_error(cat: Catalog) -> None:
    cat.save_profile(make_profile("/lake/p"), seen_at=T0)
    cat.save_profile(make_profile("/lake/c"), seen_at=T0)
    p, c = cat.get_table("/lake/p").id, cat.get_table("/lake/c").id
    cat.upsert_edges([_edge(p, c)])

    assert cat.save_error("/lake/p", error="corrupt footer in part-0.parquet", seen_at=T1,
                          fingerprint="fp9") == p
    rec = cat.get_table("/lake/p")
    assert rec.status == "error" and rec.error == "corrupt footer in part-0.parquet"
    assert rec.fingerprint == "fp9" and rec.last_seen == T1
    assert rec.profile is not None and rec.profile.fingerprint == "fp1"  # old profile kept
    assert [e.stale for e in cat.list_edges(EdgeFilter(include_stale=True))] == [True]
    assert cat.fingerprints() == {"/lake/p": "fp9", "/lake/c": "fp1"}
    assert [t.location for t in cat.list_tables(status="error")] == ["/lake/p"]
    assert cat.active_profiles()[0][1].location == "/lake/c" and len(cat.active_profiles()) == 1

    new_id = cat.save_error("/lake/bad.csv", error="permission denied", seen_at=T1, format="csv")
    bad = cat.get_table_by_id(new_id)
    assert (bad.status, bad.format, bad.fingerprint, bad.profile, bad.num_bytes) == (
        "error", "csv", None, None, 0)

    # the table recovers: active again, error cleared
    assert cat.save_profile(make_profile("/lake/p", "fp9"), seen_at=T2) == "changed"
    rec = cat.get_table("/lake/p")
    assert rec.status == "active" and rec.error is None and rec.fingerprint == "fp9"


def test_mark_gone_prefix_boundary_and_come_back(cat: Catalog) -> None:
    for loc in ("/a/b", "/a/b/x", "/a/b/y/z", "/a/bc", "/a/b_c", "/other/t"):
        cat.save_profile(make_profile(loc), seen_at=T0)
    cat.save_error("/a/b/err", error="boom", seen_at=T0)
    ids = {t.location: t.id for t in cat.list_tables()}
    cat.upsert_edges([_edge(ids["/a/bc"], ids["/a/b/x"]), _edge(ids["/a/bc"], ids["/other/t"])])

    gone = cat.mark_gone(roots=["/a/b/"], seen={"/a/b/y/z"}, seen_at=T1)
    assert gone == ["/a/b", "/a/b/err", "/a/b/x"]
    statuses = {t.location: t.status for t in cat.list_tables()}
    assert statuses == {"/a/b": "gone", "/a/b/x": "gone", "/a/b/err": "gone", "/a/b/y/z": "active",
                        "/a/bc": "active", "/a/b_c": "active", "/other/t": "active"}
    rec = cat.get_table("/a/b/x")
    assert rec.gone_at == T1 and rec.last_seen == T0
    assert "/a/b/x" not in cat.fingerprints()
    stale = {(e.parent_location, e.child_location): e.stale for e in cat.list_edges(EdgeFilter(include_stale=True))}
    assert stale == {("/a/bc", "/a/b/x"): True, ("/a/bc", "/other/t"): False}
    assert cat.mark_gone(roots=["/a/b"], seen=set(), seen_at=T2) == ["/a/b/y/z"]  # gone stay gone
    assert cat.count_tables(status="gone") == 4

    # a gone table comes back (same content): active again, but its old edges stay stale
    assert cat.save_profile(make_profile("/a/b/x"), seen_at=T2) == "changed"
    rec = cat.get_table("/a/b/x")
    assert rec.status == "active" and rec.gone_at is None and rec.first_seen == T0
    assert cat.list_edges(EdgeFilter(table="/a/b/x")) == []


def test_list_and_count_tables(cat: Catalog) -> None:
    cat.save_profile(make_profile("/l/big", num_bytes=9_000_000_000), seen_at=T0)
    cat.save_profile(make_profile("/l/small", num_bytes=10), seen_at=T0)
    cat.save_profile(make_profile("/m/mid", num_bytes=1000), seen_at=T0)
    cat.save_error("/l/broken", error="x", seen_at=T0)
    assert [t.location for t in cat.list_tables(order="bytes", status="active")] == [
        "/l/big", "/m/mid", "/l/small"]
    assert [t.location for t in cat.list_tables(prefix="/l/", min_bytes=11)] == ["/l/big"]
    assert [t.location for t in cat.list_tables(limit=2, offset=1)] == ["/l/broken", "/l/small"]
    assert cat.count_tables() == 4 and cat.count_tables(status=["active", "error"], prefix="/l") == 3
    assert cat.count_tables(format="parquet") == 3
    assert all(t.profile is None for t in cat.list_tables(with_profile=False))
    with pytest.raises(ValueError):
        cat.list_tables(order="nonsense")


def test_not_found(cat: Catalog) -> None:
    with pytest.raises(NotFoundError, match="/lake/missing"):
        cat.get_table("/lake/missing")
    with pytest.raises(NotFoundError, match="42"):
        cat.get_table_by_id(42)
    with pytest.raises(NotFoundError):
        cat.get_run(7)
    with pytest.raises(NotFoundError):
        cat.update_run_progress(7, {})


def test_naive_datetime_refused(cat: Catalog) -> None:
    with pytest.raises(ValueError, match="timezone"):
        cat.save_profile(make_profile("/x"), seen_at=datetime(2025, 1, 1))


# --- sketches ---------------------------------------------------------------------------------------

def test_sketches_upsert_and_fingerprint(cat: Catalog) -> None:
    cat.save_profile(make_profile("/s"), seen_at=T0)
    tid = cat.get_table("/s").id
    cat.put_sketches(tid, "fp1", "minhash", {"id": (b"a" * 100, {"num_perm": 64, "inf": float("inf")})})
    cat.put_sketches(tid, "fp1", "rowsample", {"": (b"\x00\xff", {"k": 256})})
    assert cat.get_sketches(tid, "fp1", "minhash") == {
        "id": (b"a" * 100, {"num_perm": 64, "inf": float("inf")})}
    cat.put_sketches(tid, "fp1", "minhash", {"id": (b"b", {}), "name": (b"c", {"x": [1, 2]})})
    assert cat.get_sketches(tid, "fp1", "minhash") == {"id": (b"b", {}), "name": (b"c", {"x": [1, 2]})}
    assert cat.get_sketches(tid, "other-fp", "minhash") == {}
    assert cat.get_sketches(tid, "fp1", "rowsample") == {"": (b"\x00\xff", {"k": 256})}


def test_sketches_of_many_tables_in_one_call(cat: Catalog) -> None:
    ids = []
    for n in range(5):
        cat.save_profile(make_profile(f"/m{n}"), seen_at=T0)
        ids.append(cat.get_table(f"/m{n}").id)
        cat.put_sketches(ids[-1], f"fp{n}", "minhash", {"id": (bytes([n]), {"n": n}), "x": (b"x", {})})
        cat.put_sketches(ids[-1], f"fp{n}", "rowsample", {"": (b"r", {"k": n})})
    cat.put_sketches(ids[4], "fp4", "other", {"": (b"o", {})})
    wanted = {ids[0]: "fp0", ids[1]: "stale-fp", ids[2]: "fp2", ids[4]: "fp4"}
    got = cat.get_sketches_many(wanted, ("minhash", "rowsample"))
    assert got == {(tid, kind): cat.get_sketches(tid, fp, kind) for tid, fp in wanted.items()
                   for kind in ("minhash", "rowsample") if cat.get_sketches(tid, fp, kind)}
    assert set(got) == {(ids[0], "minhash"), (ids[0], "rowsample"), (ids[2], "minhash"), (ids[2], "rowsample"),
                        (ids[4], "minhash"), (ids[4], "rowsample")}  # stale fingerprint, other kind: left out
    assert got[(ids[2], "minhash")]["id"] == (b"\x02", {"n": 2})
    assert cat.get_sketches_many({}, ("minhash",)) == {}


def test_referenced_paths(cat: Catalog) -> None:
    cat.save_profile(make_profile("/s1"), seen_at=T0)
    cat.save_profile(make_profile("/s2"), seen_at=T0)
    a, b = cat.get_table("/s1").id, cat.get_table("/s2").id
    cat.put_sketches(a, "fp1", "rowsample", {"": (b"", {"rowset_path": "/w/hs-a1"})})
    cat.put_sketches(b, "fp1", "rowsample", {"": (b"", {"rowset_path": "/w/hs-b"})})
    cat.put_sketches(b, "fp1", "minhash", {"id": (b"", {"rowset_path": "/w/not-a-rowsample"})})
    assert cat.referenced_paths("rowsample") == {"/w/hs-a1", "/w/hs-b"}
    cat.put_sketches(a, "fp1", "rowsample", {"": (b"", {"rowset_path": "/w/hs-a2"})})  # replaced
    cat.save_profile(make_profile("/s2", "fp2"), seen_at=T1)  # drift deletes b's sketches
    assert cat.referenced_paths("rowsample") == {"/w/hs-a2"}


# --- edges ------------------------------------------------------------------------------------------

def test_edges_bulk_upsert_and_filters(cat: Catalog) -> None:
    for name in ("p", "c", "d"):
        cat.save_profile(make_profile(f"/e/{name}"), seen_at=T0)
    p, c, d = (cat.get_table(f"/e/{n}").id for n in "pcd")
    run = cat.start_run("detect")
    assert cat.upsert_edges([
        _edge(p, c, state="candidate", stage="schema"),
        _edge(p, d, state="pruned", stage="minmax", evidence={"column": "id", "reason": "max"}),
        _edge(c, d, relation="duplicate", multiset=True, run_id=run),
    ]) == 3
    edges = cat.list_edges()
    assert [(e.parent_location, e.child_location, e.state, e.stage) for e in edges] == [
        ("/e/p", "/e/c", "candidate", "schema"), ("/e/p", "/e/d", "pruned", "minmax"),
        ("/e/c", "/e/d", "verified", "exact")]
    assert edges[1].evidence == {"column": "id", "reason": "max"}
    assert edges[2].relation == "duplicate" and edges[2].multiset is True and edges[2].run_id == run
    assert edges[0].updated_at.tzinfo is not None

    cat.upsert_edges([_edge(p, c, state="verified", stage="exact", multiset=False, evidence={"missing": 0})])
    again = cat.list_edges(EdgeFilter(table="/e/c"))
    assert len(again) == 2 and again[0].id == edges[0].id
    assert (again[0].state, again[0].multiset, again[0].evidence) == ("verified", False, {"missing": 0})
    assert [e.child_location for e in cat.list_edges(EdgeFilter(state="verified", relation="contains"))] == ["/e/c"]
    assert len(cat.list_edges(EdgeFilter(stage="minmax"))) == 1 and len(cat.list_edges(limit=1, offset=2)) == 1
    # One filter for every listing: by location (parent, child, either end), by id and direction, verified.
    pairs = {"parent": [("/e/p", "/e/c"), ("/e/p", "/e/d")], "child": [("/e/p", "/e/d"), ("/e/c", "/e/d")]}
    assert [(e.parent_location, e.child_location) for e in cat.list_edges(EdgeFilter(parent="/e/p"))] == pairs["parent"]
    assert [(e.parent_location, e.child_location) for e in cat.list_edges(EdgeFilter(child="/e/d"))] == pairs["child"]
    assert cat.list_edges(EdgeFilter(parent="/e/nowhere")) == []
    by_id = EdgeFilter(table_id=d, direction="parents", verified=True)
    assert [e.parent_location for e in cat.edge_page(by_id)] == ["/e/c"] and cat.count_edges(by_id) == 1
    assert list(cat.edge_ids(EdgeFilter(verified=False))) == [edges[1].id]
    # ids come back as one aggregated text value: in id order, and an empty selection is an empty array
    assert list(cat.edge_ids(EdgeFilter(include_stale=True))) == sorted(e.id for e in cat.list_edges(
        EdgeFilter(include_stale=True)))
    assert len(cat.edge_ids(EdgeFilter(include_stale=True))) >= 3
    assert list(cat.edge_ids(EdgeFilter(parent="/e/nowhere"))) == []
    assert [e.id for e in cat.edges_by_ids([edges[0].id, edges[1].id], EdgeFilter(parent="/e/p", stage="exact"))] \
        == [edges[0].id]

    assert cat.delete_edges_except({(p, c), (c, d), (d, p)}) == 1
    assert {(e.parent_id, e.child_id) for e in cat.list_edges()} == {(p, c), (c, d)}
    assert cat.delete_edges_for([d]) == 1
    assert [(e.parent_id, e.child_id) for e in cat.list_edges(EdgeFilter(include_stale=True))] == [(p, c)]


def test_upsert_edges_many_rows(cat: Catalog) -> None:
    engine = get_engine(cat._url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO tables (location, status, fingerprint, num_bytes, num_files, first_seen, last_seen) "
            "VALUES (:loc, 'active', 'fp1', 0, 0, :t, :t)"),
            [{"loc": f"/big/t{i:03d}", "t": T0.replace(tzinfo=None) if engine.dialect.name == "sqlite"
              else T0} for i in range(150)])
    ids = [t.id for t in cat.list_tables(with_profile=False)]
    pairs = [(a, b) for a in ids for b in ids if a != b][:20_000]
    assert cat.upsert_edges(_edge(a, b, state="candidate", stage="schema") for a, b in pairs) == 20_000
    assert cat.upsert_edges(_edge(a, b, state="pruned", stage="minmax") for a, b in pairs) == 20_000
    decided = cat.valid_pair_decisions().decisions
    assert len(decided) == 20_000 and {e.state for e in decided.values()} == {"pruned"}


def test_valid_pair_decisions_settles_metadata_pruned_pairs_of_the_version(cat: Catalog) -> None:
    """With ``settled_version``, metadata-pruned pairs of that decision version come back as bare pairs;
    those of another version, or whose version is missing or damaged, are left out (decided again);
    every other decision comes back as before, and a changed table's pairs are in neither."""
    for name in "pabcdefg":
        cat.save_profile(make_profile(f"/s/{name}"), seen_at=T0)
    p, a, b, c, d, e, f, g = (cat.get_table(f"/s/{n}").id for n in "pabcdefg")
    minmax = {"state": "pruned", "stage": "minmax"}
    cat.upsert_edges([
        _edge(p, a, **minmax, evidence={"reason": "nulls", "decision_version": 2}),
        _edge(p, b, **minmax, evidence={"reason": "nulls", "decision_version": 1}),
        _edge(p, c, **minmax, evidence={"reason": "nulls", "decision_version": "two"}),
        _edge(p, d, **minmax, evidence={"reason": "nulls"}),
        _edge(p, e, state="pruned", stage="minhash", evidence={"column": "x", "decision_version": 2}),
        _edge(p, f, state="candidate", stage="minhash", evidence={"note": "not examined", "decision_version": 2}),
        _edge(p, g, **minmax, evidence={"reason": "nulls", "decision_version": 2}),
    ])
    cat.save_profile(make_profile("/s/g", "fp2"), seen_at=T1)  # g changed: its pair is stale
    everything = cat.valid_pair_decisions()
    assert set(everything.decisions) == {(p, t) for t in (a, b, c, d, e, f)} and everything.settled == {}
    found = cat.valid_pair_decisions(settled_version=2)
    assert found.settled == {p: {a}}
    assert set(found.decisions) == {(p, e), (p, f)}
    assert found.decisions[(p, e)].evidence == {"column": "x", "decision_version": 2}
    assert (found.decisions[(p, f)].state, found.decisions[(p, f)].multiset) == ("candidate", None)
    assert cat.valid_pair_decisions(settled_version=1).settled == {p: {b}}


def test_pair_decision_evidence_round_trips_and_compares(cat: Catalog) -> None:
    """Evidence is handed over as stored text, decoded on use (non-finite floats included), and
    compared by value when the text differs (as a JSONB rendering would)."""
    for name in ("p", "c"):
        cat.save_profile(make_profile(f"/w/{name}"), seen_at=T0)
    p, c = (cat.get_table(f"/w/{n}").id for n in "pc")
    evidence = {"rows": [1, 2], "ratio": float("nan"), "note": "x", "hash_version": 2}
    cat.upsert_edges([_edge(p, c, evidence=evidence, multiset=True)])
    got = cat.valid_pair_decisions().decisions[(p, c)]
    assert (got.state, got.stage, got.relation, got.multiset) == ("verified", "exact", "contains", True)
    assert got.evidence["rows"] == [1, 2] and math.isnan(got.evidence["ratio"])
    assert got.same_evidence({"rows": [1, 2], "ratio": float("nan"), "note": "x", "hash_version": 2})
    assert replace(got, evidence_json='{"note": "x", "rows": [1, 2], "hash_version": 2}').same_evidence(
        {"rows": [1, 2], "note": "x", "hash_version": 2})
    assert not got.same_evidence({**evidence, "note": "y"})


@pytest.mark.parametrize(("value", "expected"), [
    ({"rows": [1, (2, 3)], "note": "é\u2028", "ratio": 0.1, "big": 1e300, "neg": -0.0},
     {"rows": [1, [2, 3]], "note": "é\u2028", "ratio": 0.1, "big": 1e300, "neg": -0.0}),
    ({"gone": None, "x": [math.inf, -math.inf]}, {"gone": None, "x": [math.inf, -math.inf]}),
    ({1: "int key"}, {"1": "int key"}),  # orjson refuses it; JSON makes the key a string
    ({"huge": 2**70}, {"huge": 2**70}),  # past 64 bits: orjson refuses it
])
def test_json_text_round_trips_whichever_encoder_wrote_it(value: object, expected: object) -> None:
    """orjson writes what it can; null-bearing text (orjson writes NaN as null) and what it refuses go to
    the standard encoder, which tags non-finite floats."""
    assert json_loads(json_dumps(value)) == expected
    nan = json_loads(json_dumps({"ratio": float("nan")}))["ratio"]
    assert math.isnan(nan)
    with pytest.raises(TypeError):  # refused as the standard encoder refuses it, not written by orjson
        json_dumps({"at": T0})


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_json_loads_reads_any_text_as_the_standard_decoder_does(value: object) -> None:
    """orjson reads what it can, the standard decoder the rest (tags, NaN literals, big integers):
    the value is the one the standard decoder gives, for our text and another writer's."""
    import json

    from r2d2.catalog.db import _DECODER

    for text in (json_dumps(value), json.dumps(value), json.dumps(value, indent=1, ensure_ascii=False)):
        assert json.dumps(json_loads(text), sort_keys=True) == json.dumps(_DECODER.decode(text), sort_keys=True)
        assert json.dumps(json_loads(text.encode()), sort_keys=True) == json.dumps(_DECODER.decode(text),
                                                                                  sort_keys=True)


def test_valid_pair_decisions_fingerprint_drift(cat: Catalog) -> None:
    for name in ("p", "c", "d", "e"):
        cat.save_profile(make_profile(f"/v/{name}"), seen_at=T0)
    p, c, d, e = (cat.get_table(f"/v/{n}").id for n in "pcde")
    cat.upsert_edges([_edge(p, c), _edge(p, d), _edge(p, e, cfp="old"), _edge(d, c)])
    assert set(cat.valid_pair_decisions().decisions) == {(p, c), (p, d), (d, c)}

    cat.save_profile(make_profile("/v/d", "fp2"), seen_at=T1)  # d drifts: its edges are stale
    decided = cat.valid_pair_decisions().decisions
    assert set(decided) == {(p, c)}
    assert (decided[(p, c)].state, decided[(p, c)].stage) == ("verified", "exact")

    # re-deciding with the new fingerprint makes the edge valid (and fresh) again
    cat.upsert_edges([_edge(p, d, cfp="fp2")])
    assert set(cat.valid_pair_decisions().decisions) == {(p, c), (p, d)}
    # an edge that is not stale but whose fingerprint no longer matches is not valid either
    with get_engine(cat._url).begin() as conn:
        conn.execute(sa.text("UPDATE tables SET fingerprint = 'fp3' WHERE id = :i"), {"i": c})
    assert set(cat.valid_pair_decisions().decisions) == {(p, d)}
    cat.mark_gone(roots=["/v"], seen={"/v/p", "/v/c", "/v/e"}, seen_at=T2)
    assert cat.valid_pair_decisions().decisions == {}


def test_table_delete_cascades(cat: Catalog) -> None:
    cat.save_profile(make_profile("/k/p"), seen_at=T0)
    cat.save_profile(make_profile("/k/c"), seen_at=T0)
    p, c = cat.get_table("/k/p").id, cat.get_table("/k/c").id
    cat.upsert_edges([_edge(p, c)])
    cat.put_sketches(c, "fp1", "minhash", {"id": (b"x", {})})
    with get_engine(cat._url).begin() as conn:
        conn.execute(sa.text("DELETE FROM tables WHERE id = :i"), {"i": c})
        left = [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("edges", "sketches", "table_columns")]
    assert left == [0, 0, 2]


# --- runs -------------------------------------------------------------------------------------------

def test_runs_lifecycle(cat: Catalog) -> None:
    run = cat.start_run("scan", params={"roots": ["/lake"], "incremental": True})
    rec = cat.get_run(run)
    assert rec.status == "running" and rec.kind == "scan" and rec.finished_at is None
    assert rec.params == {"roots": ["/lake"], "incremental": True} and rec.pid and rec.host
    cat.update_run_progress(run, {"tables": 3, "done": 1})
    assert cat.get_run(run).progress == {"tables": 3, "done": 1}
    errors = [{"location": "/lake/bad", "error": "corrupt footer"}]
    cat.finish_run(run, status="succeeded", summary={"new": 2}, errors=errors)
    rec = cat.get_run(run)
    assert rec.status == "succeeded" and rec.summary == {"new": 2} and rec.errors == errors
    assert rec.finished_at is not None and rec.finished_at >= rec.started_at
    with pytest.raises(ValueError):
        cat.finish_run(run, status="running")

    d1, d2 = cat.start_run("detect"), cat.start_run("detect")
    assert [r.id for r in cat.list_runs()] == [d2, d1, run]
    assert [r.id for r in cat.list_runs("detect", limit=1)] == [d2]
    assert cat.fail_stale_runs("server restarted") == 0  # their process (this one) still runs
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with cat._write() as conn:
        conn.execute(sa.text("UPDATE runs SET pid = :pid WHERE id IN (:a, :b)"), {"pid": dead.pid, "a": d1, "b": d2})
    assert cat.fail_stale_runs("server restarted") == 2
    assert cat.fail_stale_runs("again") == 0
    failed = cat.get_run(d1)
    assert failed.status == "failed" and failed.finished_at is not None
    assert failed.errors == [{"location": None, "error": "server restarted"}]
    assert cat.get_run(run).status == "succeeded"
    assert [r.id for r in cat.list_runs(status="failed")] == [d2, d1]


def test_execute_many_stores_what_sqlalchemy_would(cat: Catalog) -> None:
    """The bulk path converts values itself (each constant once): the stored rows are those SQLAlchemy's
    own per-row conversion stores (JSON with non-finite floats, booleans and NULLs, UTC datetimes)."""
    from r2d2.catalog._base import execute_many
    from r2d2.catalog.models import EdgeRow

    for name in ("p", "c", "d"):
        cat.save_profile(make_profile(f"/m/{name}"), seen_at=T0)
    p, c, d = (cat.get_table(f"/m/{n}").id for n in "pcd")
    rows = [{"parent_id": a, "child_id": b, "parent_fingerprint": "fp1", "child_fingerprint": None,
             "state": "verified", "stage": "exact", "relation": "contains", "multiset": multiset,
             "evidence": {"ratio": float("inf"), "rows": [1, None], "n": a}, "run_id": None}
            for (a, b), multiset in zip([(p, c), (p, d), (c, d)], [True, False, None], strict=True)]
    constants = {"stale": False, "updated_at": T1}
    table = EdgeRow.__table__
    columns = [col for col in table.c if col.name != "id"]
    stored = {}
    with get_engine(cat._url).begin() as conn:
        for way in ("sqlalchemy", "bulk"):
            conn.execute(sa.delete(table))
            if way == "sqlalchemy":
                conn.execute(sa.insert(table), [{**r, **constants} for r in rows])
            else:
                execute_many(conn, sa.insert(table), rows, constants, size=2)
            stored[way] = conn.execute(sa.select(*columns).order_by(table.c.parent_id, table.c.child_id)).all()
    assert stored["bulk"] == stored["sqlalchemy"] and len(stored["bulk"]) == 3
    assert stored["bulk"][0].updated_at == T1 and stored["bulk"][0].evidence["n"] == p


# --- pooled PostgreSQL connections --------------------------------------------------------------------

def _terminate_pooled(url: str) -> int:
    """End the server side of every connection to ``url``'s database but the caller's (a server restart
    or an idle timeout, as a pooled connection sees it); how many ended."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one())
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_a_pooled_connection_that_died_while_idle_is_replaced(postgres_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads run in autocommit; a connection idle past PING_AFTER_IDLE_S is pinged first and replaced
    when dead. Without the ping the same read fails: the test would see the broken connection."""
    from pgdb import create_database

    from r2d2.catalog import db

    url = create_database(postgres_url, f"t_ping_{os.getpid()}")
    catalog = open_catalog(url)
    try:
        catalog.save_profile(make_profile("/ping/a"), seen_at=T0)
        assert catalog.table_rows_by_ids([catalog.get_table("/ping/a").id]).rows  # a pooled connection now
        monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)  # a connection used a moment ago: not pinged
        assert _terminate_pooled(url) >= 1
        with pytest.raises(CatalogError):
            catalog.count_tables()
        assert catalog.count_tables() == 1  # the failure invalidated the pool: a new connection
        monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection is pinged
        assert _terminate_pooled(url) >= 1
        assert catalog.count_tables() == 1
        assert [r.location for r in catalog.list_tables()] == ["/ping/a"]
    finally:
        catalog.close()
        dispose_engine(url)


def _old_sqlite_catalog(url: str, rows: int) -> None:
    """A SQLite catalog at revision 0006 (profiles in ``tables``), with ``rows`` tables."""
    from alembic import command

    profile = json_dumps(make_profile("/x", columns=tuple(f"c{i}" for i in range(40))).to_json())
    with get_engine(url).begin() as conn:
        command.upgrade(alembic_config(conn), "0006")
        for i in range(rows):
            conn.execute(sa.text("INSERT INTO tables (location, status, num_bytes, num_files, profile, first_seen, "
                                 "last_seen) VALUES (:loc, 'active', 1, 1, :p, :now, :now)"),
                         {"loc": f"/x/{i}", "p": profile, "now": T0})
    dispose_engine(url)


def test_a_sqlite_catalog_is_compacted_once_its_profiles_move_out(tmp_path: Path) -> None:
    """After 0007 the wide rows' space is given back (VACUUM), so that a re-scan's updates of the now
    narrow rows write few pages; the rows are all there."""
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    _old_sqlite_catalog(url, 400)

    def pages() -> int:
        with get_engine(url).connect() as conn:
            return int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())

    wide = pages()
    dispose_engine(url)
    cat = open_catalog(url)
    assert len(cat.active_profiles()) == 400
    # The profiles now fill table_profiles' pages; without the VACUUM the rows left behind in tables still
    # spread over all of their old pages (nearly twice as many pages in all).
    assert pages() <= wide * 1.1
    cat.close()


def test_a_compaction_that_fails_leaves_the_catalog_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """VACUUM cannot run while another process writes (here: holds the write lock past the busy timeout):
    a warning, and the upgraded catalog works as it is."""
    import sqlite3

    from r2d2.catalog import db

    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    _old_sqlite_catalog(url, 50)
    cat = open_catalog(url)  # upgraded (and compacted once)
    assert len(cat.active_profiles()) == 50
    cat.close()
    dispose_engine(url)
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = get_engine(url)
    writer = sqlite3.connect(tmp_path / "c.sqlite", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        with caplog.at_level("WARNING", logger="r2d2.catalog.db"):
            db._vacuum(engine)
        assert "cannot compact the catalog" in caplog.text and "locked" in caplog.text
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert len(Catalog(engine, url).active_profiles()) == 50
    dispose_engine(url)


def test_a_sqlite_too_old_for_0007_stops_the_upgrade_before_anything_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """0007 drops a column in place (SQLite 3.35): with an older SQLite the upgrade stops with an error
    that says so, and the catalog stays at 0006 with every row (one transaction)."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    _old_sqlite_catalog(url, 5)
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(CatalogError, match=r"needs SQLite 3\.35 or later.*has SQLite 3\.34\.1"):
        open_catalog(url)
    with get_engine(url).connect() as conn:
        assert current_revision(conn) == "0006"
        assert conn.execute(sa.text("SELECT count(*) FROM tables WHERE profile IS NOT NULL")).scalar_one() == 5
    dispose_engine(url)


@pytest.mark.postgres
def test_postgres_updates_of_unchanged_tables_stay_on_their_page(postgres_url: str) -> None:
    """A re-scan's last_seen updates are heap-only (HOT) on PostgreSQL: ``tables`` keeps room on its pages
    (migration 0008) and no index column changes, so no index grows with each re-scan."""
    from pgdb import create_database

    url = create_database(postgres_url, f"t_{os.getpid()}_hot")
    cat = open_catalog(url)
    cat.save_profiles([make_profile(f"/lake/h{i:04d}") for i in range(2_000)], seen_at=T0)
    engine = get_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT reloptions FROM pg_class WHERE oid = 'tables'::regclass")).scalar_one() == [
            "fillfactor=50"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM tables"))
    for at in (T1, T2):
        assert cat.touch_seen([f"/lake/h{i:04d}" for i in range(2_000)], seen_at=at) == 2_000
    deadline = time.monotonic() + 30
    while True:  # the updating sessions report their counts within a second or so of going idle
        with engine.connect() as conn:
            updated, hot = conn.execute(sa.text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'tables'::regclass")).one()
        if updated >= 4_000 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert updated >= 4_000 and hot >= 0.9 * updated
    assert {r.last_seen for r in cat.list_tables()} == {T2}
    cat.close()


@pytest.mark.postgres
def test_postgres_bulk_copy_fails_as_a_statement_would(postgres_url: str) -> None:
    """Rows written with COPY (profiles, columns, new tables) break a constraint as an INSERT would: a
    CatalogError naming it, and nothing of the transaction is left."""
    from pgdb import create_database

    from r2d2.catalog._base import execute_many
    from r2d2.catalog.models import TableRow

    url = create_database(postgres_url, f"t_{os.getpid()}_copy")
    cat = open_catalog(url)
    row = {"location": "/c/ok", "status": "active", "num_bytes": 1, "num_files": 1, "first_seen": T0,
           "last_seen": T0}
    with pytest.raises(CatalogError, match="ck_tables_status"), cat._write() as conn:
        execute_many(conn, sa.insert(TableRow), [row, {**row, "location": "/c/bad", "status": "lost"}], {},
                     copy=True)
    assert cat.list_tables() == []
    with cat._write() as conn:
        execute_many(conn, sa.insert(TableRow), [row], {}, copy=True)
    assert [(t.location, t.last_seen) for t in cat.list_tables()] == [("/c/ok", T0)]
    cat.close()
