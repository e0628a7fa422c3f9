"""Content sketches, cached per table and fingerprint."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, tuple_

from r2d2.catalog._base import RepositoryBase, chunks, utcnow
from r2d2.catalog.models import SketchRow


class SketchesRepository(RepositoryBase):
    """Sketches (MinHash signatures, row-hash samples...) keyed by ``(table, kind, key)``."""

    def get_sketches(
        self, table_id: int, fingerprint: str, kind: str
    ) -> dict[str, tuple[bytes, dict[str, Any]]]:
        """``key → (payload, meta)`` of the table's sketches of ``kind`` made for ``fingerprint``."""
        with self._read() as conn:
            rows = conn.execute(
                select(SketchRow.key, SketchRow.payload, SketchRow.meta).where(
                    SketchRow.table_id == table_id,
                    SketchRow.kind == kind,
                    SketchRow.fingerprint == fingerprint,
                )
            )
            return {key: (bytes(payload), dict(meta or {})) for key, payload, meta in rows}

    def get_sketches_many(
        self, tables: Mapping[int, str], kinds: tuple[str, ...]
    ) -> dict[tuple[int, str], dict[str, tuple[bytes, dict[str, Any]]]]:
        """``(table, kind) → key → (payload, meta)`` for many tables at once (``tables``: id →
        fingerprint), in a few queries instead of one per table and kind: a detect run loads the
        sketches of every table in a fresh pair."""
        out: dict[tuple[int, str], dict[str, tuple[bytes, dict[str, Any]]]] = {}
        with self._read() as conn:
            for part in chunks(sorted(tables.items())):
                rows = conn.execute(
                    select(SketchRow.table_id, SketchRow.kind, SketchRow.key, SketchRow.payload, SketchRow.meta)
                    .where(tuple_(SketchRow.table_id, SketchRow.fingerprint).in_(list(part)),
                           SketchRow.kind.in_(kinds)))
                for tid, kind, key, payload, meta in rows:
                    out.setdefault((tid, kind), {})[key] = (bytes(payload), dict(meta or {}))
        return out

    def referenced_paths(self, kind: str, *, meta_key: str = "rowset_path") -> set[str]:
        """The ``meta[meta_key]`` values (e.g. hash-set dataset paths) of every stored sketch of ``kind``."""
        with self._read() as conn:
            metas = conn.execute(select(SketchRow.meta).where(SketchRow.kind == kind)).scalars()
            return {str(m[meta_key]) for m in metas if isinstance(m, dict) and m.get(meta_key)}

    def delete_sketches(self, table_ids: Collection[int], kinds: tuple[str, ...]) -> None:
        """Delete the sketches of ``kinds`` of these tables, whatever their fingerprint."""
        with self._write() as conn:
            for part in chunks(sorted(table_ids)):
                conn.execute(delete(SketchRow).where(SketchRow.table_id.in_(part), SketchRow.kind.in_(kinds)))

    def put_sketches(
        self, table_id: int, fingerprint: str, kind: str, items: Mapping[str, tuple[bytes, Mapping[str, Any]]]
    ) -> None:
        """Insert or replace sketches of ``kind`` (one per key) for the table's ``fingerprint``."""
        self.put_sketches_many([(table_id, fingerprint, kind, items)])

    def put_sketches_many(
        self, batches: Sequence[tuple[int, str, str, Mapping[str, tuple[bytes, Mapping[str, Any]]]]]
    ) -> None:
        """:meth:`put_sketches` for many ``(table, fingerprint, kind, items)`` in one transaction (a
        detect stores the sketches of every table it read: one commit each would cost more than
        computing them)."""
        now = utcnow()
        rows = [
            {"table_id": table_id, "fingerprint": fingerprint, "kind": kind, "key": key,
             "payload": bytes(payload), "meta": dict(meta), "created_at": now}
            for table_id, fingerprint, kind, items in batches
            for key, (payload, meta) in items.items()
        ]
        if not rows:
            return
        with self._write() as conn:
            ins = self._insert(conn, SketchRow)
            stmt = ins.on_conflict_do_update(
                index_elements=["table_id", "kind", "key"],
                set_={c: ins.excluded[c] for c in ("fingerprint", "payload", "meta", "created_at")},
            )
            for part in chunks(rows):
                conn.execute(stmt, list(part))
