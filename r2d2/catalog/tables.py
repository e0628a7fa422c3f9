"""Tables of the lake: profiles, incremental-scan bookkeeping, listing."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Table,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)

from r2d2.catalog._base import (
    PAGE_STATEMENTS,
    RawRows,
    RepositoryBase,
    among_ids,
    among_strings,
    as_utc,
    chunks,
    execute_many,
    raw_rows,
    utc_value,
)
from r2d2.catalog.models import ColumnRow, EdgeRow, ProfileRow, SketchRow, TableRow
from r2d2.catalog.records import SaveOutcome, TableRecord, TableStatus
from r2d2.errors import NotFoundError
from r2d2.types import TableProfile

T = cast(Table, TableRow.__table__)
C = cast(Table, ColumnRow.__table__)
S = cast(Table, SketchRow.__table__)
P = cast(Table, ProfileRow.__table__)
_LISTED = list(T.c)  # a listing's columns (the profile is in table_profiles)
_WITH_PROFILE = T.outerjoin(P, P.c.table_id == T.c.id)  # a table and its profile, if it has one
# A listing's filters as a hashable key: (statuses, format, prefix, min_bytes, location).
_Filters = tuple[tuple[str, ...] | None, str | None, str | None, int | None, str | None]
# Tables per write transaction in save_profiles: few commits, short enough write locks.
SAVE_BATCH = 500
TOUCH_ARRAY = 100_000  # locations per statement of touch_seen on PostgreSQL (one array parameter)
CHUNK_STRINGS = 500  # elsewhere (an expanding IN: SQLite limits a statement's parameters)
_ORDERS: dict[str, Any] = {
    "location": (TableRow.location,),
    "id": (TableRow.id,),
    "bytes": (TableRow.num_bytes.desc(), TableRow.location),
    "last_seen": (TableRow.last_seen.desc(), TableRow.location),
}


def under_root(location: str, root: str) -> bool:
    """Whether ``location`` is ``root`` or inside it (prefix match on a path-component boundary)."""
    base = root.rstrip("/")
    return location in (root, base) or location.startswith(base + "/")


def root_widens(stored: str | None, root: str) -> bool:
    """Whether a table found under scan root ``root`` gets it recorded, its stored root being ``stored``:
    the broadest root a table was found under is kept (see :meth:`TablesRepository.set_roots`)."""
    return stored is None or (stored != root and under_root(stored, root))


def _record(row: Row[Any], *, with_profile: bool = True) -> TableRecord:
    m = row._mapping
    profile = m.get("profile") if with_profile else None
    return TableRecord(
        id=m["id"],
        location=m["location"],
        format=m["format"],
        status=m["status"],
        fingerprint=m["fingerprint"],
        num_rows=m["num_rows"],
        num_bytes=m["num_bytes"],
        num_files=m["num_files"],
        first_seen=m["first_seen"],
        last_seen=m["last_seen"],
        gone_at=m["gone_at"],
        profiled_at=m["profiled_at"],
        error=m["error"],
        profile=TableProfile.from_json(profile) if profile else None,
        latency_limit_s=m["latency_limit_s"],
        root=m.get("root"),
        access_per_day=m["access_per_day"],
    )


def table_records(raw: RawRows) -> list[TableRecord]:
    """Tables without profiles from the driver's rows (:class:`~r2d2.catalog._base.RawRows`)."""
    k = raw.keys
    return [TableRecord(
        id=r[k["id"]], location=r[k["location"]], format=r[k["format"]], status=r[k["status"]],
        fingerprint=r[k["fingerprint"]], num_rows=r[k["num_rows"]], num_bytes=r[k["num_bytes"]],
        num_files=r[k["num_files"]], first_seen=utc_value(r[k["first_seen"]]),  # type: ignore[arg-type]
        last_seen=utc_value(r[k["last_seen"]]),  # type: ignore[arg-type]
        gone_at=utc_value(r[k["gone_at"]]), profiled_at=utc_value(r[k["profiled_at"]]), error=r[k["error"]],
        profile=None, latency_limit_s=r[k["latency_limit_s"]], root=r[k["root"]],
        access_per_day=r[k["access_per_day"]]) for r in raw.rows]


def _mark_edges_stale(conn: Connection, table_ids: Sequence[int]) -> None:
    for part in chunks(list(table_ids)):
        conn.execute(
            update(EdgeRow)
            .where(or_(EdgeRow.parent_id.in_(part), EdgeRow.child_id.in_(part)), EdgeRow.stale == false())
            .values(stale=True)
        )


def _column_rows(table_id: int, profile: TableProfile) -> list[dict[str, Any]]:
    return [
        {"table_id": table_id, "ordinal": i, "name": c.name, "key": c.key,
         "family": str(c.family), "physical_type": c.physical_type}
        for i, c in enumerate(profile.columns)
    ]


def _replace_profiles(conn: Connection, profiles: Sequence[tuple[int, TableProfile]], *, fresh: bool = False) -> None:
    """Store each table's profile in place of the one it had, if any (``fresh``: new tables, none)."""
    if not fresh:
        for part in chunks([tid for tid, _ in profiles]):
            conn.execute(delete(P).where(P.c.table_id.in_(part)))
    if profiles:
        execute_many(conn, insert(P), [{"table_id": tid, "profile": p.to_json()} for tid, p in profiles], {},
                     copy=True)


def _replace_columns(conn: Connection, table_id: int, profile: TableProfile) -> None:
    conn.execute(delete(ColumnRow).where(ColumnRow.table_id == table_id))
    rows = _column_rows(table_id, profile)
    if rows:
        conn.execute(insert(ColumnRow), rows)


def _touch_sqlite(conn: Connection, locs: Sequence[str], seen_at: datetime) -> int:
    """:meth:`TablesRepository.touch_seen` on SQLite: chunks of plain SQL (SQLAlchemy renders an expanding IN anew
    for every statement, half the time of a re-scan's 10,000 touches; SQLite limits a statement's
    parameters)."""
    process = TableRow.__table__.c.last_seen.type.bind_processor(conn.dialect)
    value = process(seen_at) if process is not None else seen_at
    count = 0
    for part in chunks(locs, CHUNK_STRINGS):
        marks = ",".join("?" * len(part))
        count += conn.exec_driver_sql(
            f"UPDATE tables SET last_seen = ? WHERE status != 'gone' AND location IN ({marks})", (value, *part)
        ).rowcount
    return count


def _profile_values(profile: TableProfile, seen_at: datetime) -> dict[str, Any]:
    """Columns of a table row written from a fresh profile (new, changed or come-back table)."""
    return {
        "format": profile.format,
        "status": "active",
        "fingerprint": profile.fingerprint,
        "num_rows": profile.num_rows,
        "num_bytes": profile.num_bytes,
        "num_files": profile.num_files,
        "error": None,
        "last_seen": seen_at,
        "profiled_at": seen_at,
        "gone_at": None,
    }


def _distinct_runs(profiles: Sequence[TableProfile], size: int) -> Iterable[Sequence[TableProfile]]:
    """Consecutive groups of at most ``size`` profiles in which no location repeats (a repeated location
    starts a new group, so that it sees what the previous one wrote, as with one save at a time)."""
    start, locs = 0, set[str]()
    for i, p in enumerate(profiles):
        if i - start >= size or p.location in locs:
            yield profiles[start:i]
            start, locs = i, set[str]()
        locs.add(p.location)
    if start < len(profiles):
        yield profiles[start:]


class TablesRepository(RepositoryBase):
    """Tables and their profiles."""

    def fingerprints(self) -> dict[str, str | None]:
        """Location → stored fingerprint of every active or errored table (for incremental scans)."""
        return {loc: fp for loc, (fp, _) in self.scan_state().items()}

    def scan_state(self) -> dict[str, tuple[str | None, str | None]]:
        """Location → (stored fingerprint, scan root) of every active or errored table: what a scan
        compares with what it finds, in one read (see :meth:`fingerprints`, :meth:`set_roots`)."""
        with self._read() as conn:  # the driver's rows: one per table of the lake, on every scan
            rows = raw_rows(conn, select(TableRow.location, TableRow.fingerprint, TableRow.root)
                            .where(TableRow.status.in_(("active", "error")))).rows
            return {loc: (fp, root) for loc, fp, root in rows}

    def save_profile(self, profile: TableProfile, *, seen_at: datetime) -> SaveOutcome:
        """Insert or update a table from its profile.

        ``unchanged``: the table is active with the same fingerprint (only ``last_seen`` moves).
        ``changed``: new fingerprint, or the table comes back from ``gone``/``error``: its profile and
        columns are replaced, sketches of other fingerprints deleted, and its edges marked stale.
        """
        seen_at = as_utc(seen_at, "seen_at")
        values = _profile_values(profile, seen_at)
        with self._write() as conn:
            old = conn.execute(
                select(T.c.id, T.c.status, T.c.fingerprint, P.c.table_id.is_(None)).select_from(_WITH_PROFILE)
                .where(T.c.location == profile.location)
            ).first()
            if old is None:
                table_id = conn.execute(
                    insert(TableRow).values(location=profile.location, first_seen=seen_at, **values)
                    .returning(TableRow.id)
                ).scalar_one()
                _replace_profiles(conn, [(table_id, profile)])
                _replace_columns(conn, table_id, profile)
                return "new"
            table_id, status, fingerprint, no_profile = old
            if status == "active" and fingerprint == profile.fingerprint and not no_profile:
                conn.execute(update(TableRow).where(TableRow.id == table_id).values(last_seen=seen_at))
                return "unchanged"
            conn.execute(update(TableRow).where(TableRow.id == table_id).values(**values))
            _replace_profiles(conn, [(table_id, profile)])
            _replace_columns(conn, table_id, profile)
            conn.execute(
                delete(SketchRow).where(SketchRow.table_id == table_id,
                                        SketchRow.fingerprint != profile.fingerprint)
            )
            _mark_edges_stale(conn, [table_id])
            return "changed"

    def save_profiles(
        self, profiles: Sequence[TableProfile], *, seen_at: datetime, batch_size: int = SAVE_BATCH,
        roots: Mapping[str, str] | None = None,
    ) -> list[SaveOutcome]:
        """:meth:`save_profile` for many tables: one outcome per profile, in order, with the same
        semantics, in one transaction per ``batch_size`` tables (a failure rolls back that batch only).
        ``roots``: the scan root of each location, recorded for the tables new to the catalog (the
        others' go through :meth:`set_roots`)."""
        seen_at = as_utc(seen_at, "seen_at")
        outcomes: list[SaveOutcome] = []
        for group in _distinct_runs(profiles, max(1, batch_size)):
            with self._write() as conn:
                outcomes.extend(self._save_group(conn, group, seen_at, roots or {}))
        return outcomes

    @staticmethod
    def _save_group(conn: Connection, group: Sequence[TableProfile], seen_at: datetime,
                    roots: Mapping[str, str]) -> list[SaveOutcome]:
        old: dict[str, tuple[int, str, str | None, bool]] = {}
        for locs in chunks([p.location for p in group]):
            rows = conn.execute(
                select(T.c.id, T.c.location, T.c.status, T.c.fingerprint, P.c.table_id.is_(None))
                .select_from(_WITH_PROFILE).where(T.c.location.in_(locs))
            )
            for tid, loc, status, fingerprint, no_profile in rows:
                old[loc] = (tid, status, fingerprint, bool(no_profile))
        outcomes: list[SaveOutcome] = []
        new: list[TableProfile] = []
        changed: list[tuple[int, TableProfile]] = []
        unchanged: list[int] = []
        for p in group:
            prev = old.get(p.location)
            if prev is None:
                outcomes.append("new")
                new.append(p)
                continue
            tid, status, fingerprint, no_profile = prev
            if status == "active" and fingerprint == p.fingerprint and not no_profile:
                outcomes.append("unchanged")
                unchanged.append(tid)
            else:
                outcomes.append("changed")
                changed.append((tid, p))

        for part in chunks(unchanged):
            conn.execute(update(T).where(T.c.id.in_(part)).values(last_seen=seen_at))
        column_rows: list[dict[str, Any]] = []
        if new:
            inserted = [{"location": p.location, "first_seen": seen_at, "root": roots.get(p.location),
                         **_profile_values(p, seen_at)} for p in new]
            if conn.dialect.name == "postgresql":
                # COPY, then the ids by location (unique, and none repeats in a group): SQLAlchemy's
                # multi-row INSERT ... RETURNING was most of saving 10,000 profiles (psycopg parses each
                # statement of thousands of parameters with a regular expression).
                execute_many(conn, insert(T), inserted, {}, copy=True)
                found = dict(conn.execute(select(T.c.location, T.c.id).where(among_strings(T.c.location, "postgresql")),
                                          {"values": [p.location for p in new]}).all())
                ids_new = [found[p.location] for p in new]
            else:
                ids_new = list(conn.execute(insert(T).returning(T.c.id, sort_by_parameter_order=True),
                                            inserted).scalars())
            _replace_profiles(conn, list(zip(ids_new, new, strict=True)), fresh=True)
            for tid, p in zip(ids_new, new, strict=True):
                column_rows.extend(_column_rows(tid, p))
        if changed:
            ids = [tid for tid, _ in changed]
            conn.execute(
                update(T).where(T.c.id == bindparam("b_id")),
                [{"b_id": tid, **_profile_values(p, seen_at)} for tid, p in changed],
            )
            _replace_profiles(conn, changed)
            for part in chunks(ids):
                conn.execute(delete(C).where(C.c.table_id.in_(part)))
            conn.execute(
                delete(S).where(S.c.table_id == bindparam("b_id"), S.c.fingerprint != bindparam("b_fp")),
                [{"b_id": tid, "b_fp": p.fingerprint} for tid, p in changed],
            )
            _mark_edges_stale(conn, ids)
            for tid, p in changed:
                column_rows.extend(_column_rows(tid, p))
        # (every column given, no Python-side default: SQLAlchemy's per-row parameter handling was a
        # quarter of saving 2,500 profiles)
        execute_many(conn, insert(C), column_rows, {}, copy=True)
        return outcomes

    def touch_seen(self, locations: Iterable[str], *, seen_at: datetime) -> int:
        """Set ``last_seen`` of the given (unchanged, not gone) tables; returns how many were found."""
        seen_at = as_utc(seen_at, "seen_at")
        locs = sorted(set(locations))
        count = 0
        with self._write() as conn:
            # PostgreSQL: one statement with an array (chunks of IN lists cost 0.36 s for 10,000 tables,
            # this 0.19 s); SQLite's statements are cheap, but its parameters are limited in number.
            if conn.dialect.name == "sqlite":
                return _touch_sqlite(conn, locs, seen_at)
            for part in chunks(locs, TOUCH_ARRAY):
                result = conn.execute(
                    update(TableRow).where(among_strings(TableRow.location, conn.dialect.name),
                                           TableRow.status != "gone").values(last_seen=seen_at),
                    {"values": list(part)})
                count += result.rowcount
        return count

    def save_error(
        self,
        location: str,
        *,
        error: str,
        seen_at: datetime,
        format: str | None = None,
        fingerprint: str | None = None,
        forget_profile: bool = False,
    ) -> int:
        """Record that ``location`` could not be profiled; returns the table id.

        The old profile (if any) is kept for reference, ``fingerprint`` replaces the stored one (so that
        an incremental scan retries the table once its content changes), and its edges become stale.
        ``forget_profile`` drops the profile, columns and sketches instead: for a table that must not be
        known at all (it lies behind a symbolic link out of its root; its statistics are not served).
        """
        seen_at = as_utc(seen_at, "seen_at")
        with self._write() as conn:
            table_id = conn.execute(select(TableRow.id).where(TableRow.location == location)).scalar()
            if table_id is None:
                return int(conn.execute(
                    insert(TableRow).values(
                        location=location, format=format, status="error", fingerprint=fingerprint,
                        num_bytes=0, num_files=0, error=error, first_seen=seen_at, last_seen=seen_at,
                    ).returning(TableRow.id)
                ).scalar_one())
            values: dict[str, Any] = {"status": "error", "error": error, "last_seen": seen_at,
                                      "gone_at": None, "fingerprint": fingerprint}
            if format is not None:
                values["format"] = format
            if forget_profile:
                values.update(num_rows=None, num_bytes=0, num_files=0, profiled_at=None)
            # The table's row first, then what hangs off it: the order every writer takes its locks in
            # (save_profiles too), so that two on PostgreSQL cannot wait for each other.
            conn.execute(update(TableRow).where(TableRow.id == table_id).values(**values))
            if forget_profile:
                conn.execute(delete(P).where(P.c.table_id == table_id))
                conn.execute(delete(C).where(C.c.table_id == table_id))
                conn.execute(delete(S).where(S.c.table_id == table_id))
            _mark_edges_stale(conn, [table_id])
            return int(table_id)

    def set_roots(self, roots: Mapping[str, str]) -> int:
        """Record the scan root of each location (``{location: root}``); returns how many changed.

        The broadest root a table was found under is kept: a later scan of the table's own folder (a
        restore re-scans it) must not narrow the boundary its real path is checked against.
        """
        changed = 0
        if not roots:
            return changed
        with self._write() as conn:
            for part in chunks(sorted(roots)):
                stored = conn.execute(select(T.c.id, T.c.location, T.c.root).where(T.c.location.in_(part)))
                todo = [{"b_id": tid, "b_root": roots[loc]} for tid, loc, root in stored
                        if root_widens(root, roots[loc])]
                if todo:
                    conn.execute(update(T).where(T.c.id == bindparam("b_id")).values(root=bindparam("b_root")),
                                 todo)
                    changed += len(todo)
        return changed

    def mark_gone(self, *, roots: Sequence[str], seen: set[str] | frozenset[str],
                  seen_at: datetime) -> list[str]:
        """Mark active/errored tables under ``roots`` that were not ``seen`` as gone; returns them."""
        seen_at = as_utc(seen_at, "seen_at")
        if not roots:
            return []
        with self._write() as conn:
            prefilter = or_(*(TableRow.location.startswith(r.rstrip("/"), autoescape=True) for r in roots))
            rows = conn.execute(
                select(TableRow.id, TableRow.location)
                .where(TableRow.status.in_(("active", "error")), prefilter)
            ).all()
            gone = [(tid, loc) for tid, loc in rows
                    if loc not in seen and any(under_root(loc, r) for r in roots)]
            ids = [tid for tid, _ in gone]
            for part in chunks(ids):
                conn.execute(
                    update(TableRow).where(TableRow.id.in_(part)).values(status="gone", gone_at=seen_at)
                )
            _mark_edges_stale(conn, ids)
        return sorted(loc for _, loc in gone)

    def get_table(self, location: str) -> TableRecord:
        """The table at ``location``; :class:`NotFoundError` when the catalog has none."""
        with self._read() as conn:
            row = conn.execute(select(T, P.c.profile).select_from(_WITH_PROFILE)
                               .where(TableRow.location == location)).first()
        if row is None:
            raise NotFoundError(f"table {location!r} is not in the catalog")
        return _record(row)

    def get_table_by_id(self, table_id: int) -> TableRecord:
        with self._read() as conn:
            row = conn.execute(select(T, P.c.profile).select_from(_WITH_PROFILE)
                               .where(TableRow.id == table_id)).first()
        if row is None:
            raise NotFoundError(f"table id {table_id} is not in the catalog")
        return _record(row)

    @staticmethod
    def _filters(
        status: TableStatus | Sequence[str] | None,
        format: str | None,
        prefix: str | None,
        min_bytes: int | None,
        location: str | None = None,
    ) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if location is not None:
            where.append(TableRow.location == location)
        if status is not None:
            where.append(TableRow.status.in_([status] if isinstance(status, str) else list(status)))
        if format is not None:
            where.append(TableRow.format == format)
        if prefix:
            where.append(TableRow.location.startswith(prefix, autoescape=True))
        if min_bytes is not None:
            where.append(TableRow.num_bytes >= min_bytes)
        return where

    def list_tables(
        self,
        *,
        status: TableStatus | Sequence[str] | None = None,
        format: str | None = None,
        prefix: str | None = None,
        min_bytes: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        order: str = "location",
        with_profile: bool = True,
    ) -> list[TableRecord]:
        """Tables matching every given filter (``prefix`` is a plain string prefix of the location).

        ``order``: ``location``, ``id``, ``bytes`` (largest first) or ``last_seen`` (newest first).
        """
        if order not in _ORDERS:
            raise ValueError(f"unknown order {order!r}; expected one of {sorted(_ORDERS)}")
        cols = [*T.c, P.c.profile] if with_profile else list(T.c)
        stmt = (
            select(*cols).select_from(_WITH_PROFILE).where(*self._filters(status, format, prefix, min_bytes))
            .order_by(*_ORDERS[order]).offset(offset).limit(limit)
        )
        with self._read() as conn:
            return [_record(r, with_profile=with_profile) for r in conn.execute(stmt)]

    def count_tables(
        self,
        *,
        status: TableStatus | Sequence[str] | None = None,
        format: str | None = None,
        prefix: str | None = None,
        min_bytes: int | None = None,
        location: str | None = None,
    ) -> int:
        stmt = select(func.count()).select_from(T).where(*self._filters(status, format, prefix, min_bytes,
                                                                         location))
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def active_profiles(self) -> list[tuple[int, TableProfile]]:
        """``(table id, profile)`` of every active table, by id."""
        with self._read() as conn:
            rows = conn.execute(
                select(P.c.table_id, P.c.profile).join(T, T.c.id == P.c.table_id)
                .where(T.c.status == "active").order_by(P.c.table_id)
            ).all()
        return [(int(tid), TableProfile.from_json(cast(dict[str, Any], p))) for tid, p in rows]

    # --- paged listing and service queries (REST API) -------------------------------------------------

    def table_page_rows(
        self,
        *,
        status: TableStatus | Sequence[str] | None = None,
        format: str | None = None,
        prefix: str | None = None,
        min_bytes: int | None = None,
        location: str | None = None,
        after_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> RawRows:
        """One page of tables without their profiles, as the driver's rows: by location, or by id after
        ``after_id``.

        ``location`` matches one location exactly (a page of at most one table).
        ``after_id`` is keyset pagination: tables with a larger id, in id order (start with 0).
        Otherwise the page is ``offset`` tables into the location order. Either way the ids of the page
        are found along an index first; only the page's rows are then read.
        """
        params = {"offset": offset, "limit": limit, **({} if after_id is None else {"after_id": after_id})}
        with self._read() as conn:
            return raw_rows(conn, _page(_key(status, format, prefix, min_bytes, location), after_id is not None),
                            params)

    def table_page(self, **filters: Any) -> list[TableRecord]:
        """:meth:`table_page_rows` as records (without profiles)."""
        return table_records(self.table_page_rows(**filters))

    def table_ids(
        self,
        *,
        status: TableStatus | Sequence[str] | None = None,
        format: str | None = None,
        prefix: str | None = None,
        min_bytes: int | None = None,
        location: str | None = None,
    ) -> array[int]:
        """The ids of every table matching the filters, in location order (along an index)."""
        where = self._filters(status, format, prefix, min_bytes, location)
        with self._read() as conn:
            return array("q", raw_rows(conn, select(TableRow.id).where(*where).order_by(*_ORDERS["location"]))
                         .column("id"))

    def tables_by_ids(self, ids: Sequence[int], **filters: Any) -> list[TableRecord]:
        """The tables (without profiles) with these ids that (still) match the filters, in the order of
        ``ids`` (the filters of :meth:`table_ids`)."""
        return table_records(self.table_rows_by_ids(ids, **filters))

    def table_locations(self, ids: Iterable[int]) -> dict[int, str]:
        """The location of each of these table ids that exists."""
        wanted = sorted(set(ids))
        out: dict[int, str] = {}
        with self._read() as conn:
            stmt = select(TableRow.id, TableRow.location).where(among_ids(TableRow.id, conn.dialect.name))
            for part in chunks(wanted):
                out.update(raw_rows(conn, stmt, {"ids": list(part)}).rows)
        return out

    def table_rows_by_ids(
        self,
        ids: Sequence[int],
        *,
        status: TableStatus | Sequence[str] | None = None,
        format: str | None = None,
        prefix: str | None = None,
        min_bytes: int | None = None,
        location: str | None = None,
    ) -> RawRows:
        """:meth:`tables_by_ids` as the driver's rows (columns of :class:`TableRecord` but the profile)."""
        key = _key(status, format, prefix, min_bytes, location)
        with self._read() as conn:
            raw = raw_rows(conn, _rows_by_ids(key, conn.dialect.name), {"ids": list(ids)})
        rank = {table_id: i for i, table_id in enumerate(ids)}
        at = raw.keys["id"]
        return RawRows(raw.keys, sorted(raw.rows, key=lambda r: rank[r[at]]))

    def tables_by_status(self) -> dict[str, int]:
        """Table counts by status."""
        with self._read() as conn:
            return {str(k): int(n) for k, n in
                    conn.execute(select(TableRow.status, func.count()).group_by(TableRow.status))}

    def ping(self) -> None:
        """Raise :class:`~r2d2.errors.CatalogError` when the catalog database does not answer."""
        with self._read() as conn:
            conn.execute(select(1))


def _key(status: TableStatus | Sequence[str] | None, format: str | None, prefix: str | None,
         min_bytes: int | None, location: str | None) -> _Filters:
    statuses = None if status is None else (status,) if isinstance(status, str) else tuple(status)
    return statuses, format, prefix, min_bytes, location


# The API's page statements, built once per filter combination (see _base.PAGE_STATEMENTS).
@lru_cache(maxsize=PAGE_STATEMENTS)
def _rows_by_ids(key: _Filters, dialect: str) -> Any:
    return select(*_LISTED).where(among_ids(TableRow.id, dialect), *TablesRepository._filters(*key))


@lru_cache(maxsize=PAGE_STATEMENTS)
def _page(key: _Filters, keyset: bool) -> Any:
    where = TablesRepository._filters(*key)
    if keyset:  # read from the id on, up to the limit (see edges._page: the subquery cost twice as much)
        return (select(*_LISTED).where(*where, TableRow.id > bindparam("after_id")).order_by(TableRow.id)
                .offset(bindparam("offset")).limit(bindparam("limit")))
    # An offset is walked on an index alone; only the page's rows are read whole.
    order = _ORDERS["location"]
    ids = (select(TableRow.id).where(*where).order_by(*order).offset(bindparam("offset"))
           .limit(bindparam("limit")).scalar_subquery())
    return select(*_LISTED).where(TableRow.id.in_(ids)).order_by(*order)
