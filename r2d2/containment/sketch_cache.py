"""Content sketches cached in the catalog, keyed by table fingerprint.

A changed fingerprint deletes a table's sketches (catalog), so a cached sketch always describes the
table's current content. MinHash signatures are stored as datasketch ``LeanMinHash`` bytes; the row
sample as little-endian int64 pairs, with the row counts and the hash-set dataset in ``meta``; each
projection row set as its hash-set dataset and code (key: the column names, JSON).
"""

from __future__ import annotations

import itertools
import json
import logging
import struct
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from r2d2.catalog import Catalog
from r2d2.containment import minhash as mh
from r2d2.containment.hashversion import HASH_VERSION
from r2d2.containment.sketches import ProjectionSet, RowSample, TableSketch
from r2d2.types import TableProfile

log = logging.getLogger(__name__)

MINHASH = "minhash"
ROWSAMPLE = "rowsample"
PROJECTION = "projection"
KINDS_WITH_PATHS = (ROWSAMPLE, PROJECTION)  # sketch kinds whose meta names a hash-set dataset


def load_cached_many(catalog: Catalog, profiles: Mapping[int, TableProfile], *,
                     num_perm: int, seed: int) -> dict[int, TableSketch]:
    """The cached sketch of each table's current fingerprint (tables with nothing cached are absent).
    Signatures made with another ``num_perm`` or ``seed`` are not comparable: left out (made again).
    A table whose cached rows cannot be read (a damaged row) gets none: they are deleted, made again."""
    found = catalog.get_sketches_many({tid: p.fingerprint for tid, p in profiles.items()},
                                      (MINHASH, ROWSAMPLE, PROJECTION))
    out: dict[int, TableSketch] = {}
    damaged: list[int] = []
    for tid, profile in profiles.items():
        parts = [found.get((tid, kind), {}) for kind in (MINHASH, ROWSAMPLE, PROJECTION)]
        if any(parts):
            try:
                out[tid] = _sketch(tid, profile.fingerprint, *parts, num_perm=num_perm, seed=seed)
            except (ValueError, TypeError, KeyError, struct.error) as exc:
                log.warning("%s: its cached sketches cannot be read (%s): they are made again", profile.location, exc)
                damaged.append(tid)
    if damaged:
        catalog.delete_sketches(damaged, (MINHASH, ROWSAMPLE, PROJECTION))
    return out


Stored = dict[str, tuple[bytes, dict]]


def _sketch(table_id: int, fingerprint: str, sigs: Stored, rows: Stored, projections: Stored, *,
            num_perm: int, seed: int) -> TableSketch:
    sk = TableSketch(table_id, fingerprint)
    for key, (payload, meta) in sigs.items():
        sig = mh.from_bytes(payload)
        if len(sig) == num_perm and meta.get("hash_version") == HASH_VERSION and meta.get("seed") == seed:
            sk.minhash[key] = sig
    # entries without a sample limit predate threshold samples: ignored, so they are recomputed
    if "" in rows and rows[""][1].get("hash_version") == HASH_VERSION and "limit" in rows[""][1]:
        payload, meta = rows[""]
        sk.sample = RowSample.from_bytes(payload)
        sk.sample_limit = int(meta["limit"])
        sk.rows, sk.distinct_rows = meta.get("rows"), meta.get("distinct_rows")
        sk.rowset_path = meta.get("rowset_path")
        sk.rowset_bytes = int(meta.get("rowset_bytes") or 0)
    for key, (payload, meta) in projections.items():
        if meta.get("hash_version") == HASH_VERSION and "limit" in meta:
            sk.projections[tuple(json.loads(key))] = ProjectionSet(
                str(meta["rowset_path"]), int(meta["code"]), int(meta.get("bytes") or 0), int(meta["limit"]),
                RowSample.from_bytes(payload))
    return sk


def forget_row_sets(catalog: Catalog, table_ids: Collection[int]) -> None:
    """Drop the cached row-hash sets of these tables (their signatures stay): a set that failed to read
    at verification is made again by the next run's stage 3, not trusted again and again."""
    if table_ids:
        catalog.delete_sketches(table_ids, (ROWSAMPLE, PROJECTION))


def _payload(pairs: Sequence[tuple[int, int]]) -> bytes:
    if isinstance(pairs, RowSample):
        return pairs.to_bytes()
    flat = itertools.chain.from_iterable(pairs)  # np.asarray on a list of tuples is 3x slower
    return np.fromiter(flat, dtype="<i8", count=2 * len(pairs)).tobytes()


def store(catalog: Catalog, sk: TableSketch, *, seed: int) -> None:
    store_many(catalog, [sk], seed=seed)


def store_many(catalog: Catalog, sketches: Sequence[TableSketch], *, seed: int) -> None:
    """Cache the sketches of many tables, in one catalog transaction."""
    meta = {"seed": seed, "hash_version": HASH_VERSION}
    batches: list[tuple[int, str, str, dict[str, tuple[bytes, dict]]]] = []
    for sk in sketches:
        batches.append((sk.table_id, sk.fingerprint, MINHASH,
                        {key: (mh.to_bytes(sig, seed=seed), {**meta, "num_perm": len(sig)})
                         for key, sig in sk.minhash.items()}))
        if sk.rowset_path is not None and sk.sample_limit is not None:
            batches.append((sk.table_id, sk.fingerprint, ROWSAMPLE, {"": (_payload(sk.sample), {
                "rows": sk.rows, "distinct_rows": sk.distinct_rows, "rowset_path": sk.rowset_path,
                "rowset_bytes": sk.rowset_bytes, "limit": sk.sample_limit, "hash_version": HASH_VERSION})}))
        if sk.projections:
            batches.append((sk.table_id, sk.fingerprint, PROJECTION, {
                json.dumps(list(names)): (_payload(ps.sample), {
                    "rowset_path": ps.path, "code": ps.code, "bytes": ps.bytes, "limit": ps.limit,
                    "hash_version": HASH_VERSION})
                for names, ps in sk.projections.items()}))
    catalog.put_sketches_many(batches)
