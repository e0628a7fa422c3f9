"""Recipes: everything needed to rebuild a deleted child exactly from a kept parent.

A recipe (JSON, stored in the catalog and as ``recipe.json`` in its folder of the recipe store
``<home>/recipes/<uuid>/``) holds:

* ``parent``: the pinned parent — location, fingerprint and profile; for Delta the version; for file
  tables the file list with sizes and the SHA-256 of each file (computed once, at apply);
* ``child``: location, format, columns (names and physical Arrow types, in order), row count and the
  order-independent content checksum (:mod:`r2d2.reconstruct.checksum`);
* ``projection``: child column → parent column;
* ``selection``: how the child's rows come out of the parent's projected rows —
  ``all`` (every row), ``predicate`` (``min <= column <= max``, nulls optionally kept) or ``hashes``
  (the child's distinct row hashes with their counts, in ``rows.parquet`` next to the recipe). ``all``
  and ``predicate`` carry ``distinct``: when true, each distinct projected row is kept once.

A selection is chosen only when the checksum of what it produces equals the child's (row count,
XOR and sums of row hashes): so it reproduces the child's exact multiset, repeated rows included.
Candidates are tested in one pass over the parent: ``all``, then one range predicate per child column
of an integer, string or date family with exact min/max statistics, each with and without
``distinct``. When none matches, ``hashes`` is used: it always reproduces the child because the parent
contains every child row (the edge), and counts restore repeated rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r2d2.errors import ReconstructError, SafetyError
from r2d2.lake import confine
from r2d2.lake import fs as lakefs
from r2d2.lake.read import read_table
from r2d2.lake.sparkschema import qcol
from r2d2.reconstruct import checksum as cks
from r2d2.types import Column, Family, TableProfile

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession

RECIPE_FORMAT = 1
RECIPE_FILE = "recipe.json"
ROWS_FILE = "rows.parquet"
_PREDICATE_FAMILIES = (Family.INTEGER, Family.STRING, Family.DATE)


# --- parent pinning ---------------------------------------------------------------------------------

def sha256_file(location: str) -> str:
    fs, path = lakefs.resolve(location)
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def pin_parent(profile: TableProfile) -> dict[str, Any]:
    """The pinned content of a parent: Delta version, or every file with its size and SHA-256."""
    files = [{"path": f.path, "size": f.size} for f in profile.files]
    if profile.format != "delta":
        for entry in files:
            entry["sha256"] = sha256_file(lakefs.join(profile.location, str(entry["path"])))
    return {"location": profile.location, "format": profile.format, "fingerprint": profile.fingerprint,
            "delta_version": profile.delta_version, "files": files, "profile": profile.to_json()}


def current_fingerprint(location: str) -> str | None:
    """The table's fingerprint on disk now (listing only), or None when no table is there.

    The listing is confined to the table itself: a file (or Delta file) that is a symbolic link out of
    the table's folder raises :class:`~r2d2.errors.SafetyError` naming it (such a table is not deleted,
    and its files are not read).
    """
    from r2d2.lake.discover import discover

    found = discover([location])
    for err in found.errors:
        if err.escaped:
            raise SafetyError(err.message)
    for t in found.tables:
        if t.location == location:
            return t.fingerprint
    return None


def pinned_parent_problem(pin: dict[str, Any], root: str | None = None) -> str | None:
    """Why the pinned parent content cannot be read any more (None when it still can).

    The parent must stay inside ``root`` (its scan root; see :mod:`r2d2.lake.confine`) and each pinned file
    inside the parent: nothing is read through a link that leads out. Delta: the pinned version's
    snapshot must load and its files exist with their sizes. File tables: every pinned file must exist
    with its size; when the table's fingerprint changed, also with its SHA-256 (a rewritten file of the
    same size is caught).
    """
    location = pin["location"]
    out = confine.escape(location, confine.table_root(location, root))
    if out is not None:
        return str(out.error(location))
    for f in pin["files"]:
        path = lakefs.join(location, f["path"])
        out = confine.escape(path, location) if path != location else None
        if out is not None:
            return str(out.error(path))
    if pin["format"] == "delta":
        from r2d2.lake.delta import snapshot

        try:
            snap = snapshot(location, pin["delta_version"])
        except Exception as exc:
            return f"Delta version {pin['delta_version']} of {location} cannot be read: {exc}"
        sizes = {a.path: a.size for a in snap.adds}
        for f in pin["files"]:
            if sizes.get(f["path"]) != f["size"]:
                return f"file {f['path']} of Delta version {pin['delta_version']} is not in its log"
        files = [(lakefs.join(location, f["path"]), f["size"], None) for f in pin["files"]]
    else:
        files = [(lakefs.join(location, f["path"]), f["size"], f.get("sha256")) for f in pin["files"]]
    try:
        changed = current_fingerprint(location) != pin["fingerprint"]
    except SafetyError as exc:
        return str(exc)
    for path, size, digest in files:
        fs, p = lakefs.resolve(path)
        info = fs.get_file_info(p)
        if info.size != size:
            return f"pinned file {path} is missing or changed size"
        if changed and digest is not None and sha256_file(path) != digest:
            return f"pinned file {path} changed content (SHA-256 differs)"
    return None


# --- recipe -------------------------------------------------------------------------------------------

def column_json(c: Column) -> dict[str, Any]:
    data = asdict(c)
    data["family"] = str(c.family)
    return data


def column_from_json(data: dict[str, Any]) -> Column:
    return Column(**{**data, "family": Family(data["family"])})


def child_columns(recipe: dict[str, Any]) -> list[Column]:
    return [column_from_json(c) for c in recipe["child"]["columns"]]


def parent_profile(recipe: dict[str, Any]) -> TableProfile:
    return TableProfile.from_json(recipe["parent"]["profile"])


def projection(child: TableProfile, parent: TableProfile) -> list[dict[str, str]]:
    out = []
    for c in child.columns:
        try:
            p = parent.column(c.key)
        except KeyError:
            raise SafetyError(f"{child.location}: column {c.name!r} is not in parent {parent.location}") from None
        if p.family != c.family or c.family is Family.UNSUPPORTED:
            raise SafetyError(f"{child.location}: column {c.name!r} ({c.family}) does not match the "
                              f"parent's {p.name!r} ({p.family})")
        out.append({"child": c.name, "parent": p.name})
    return out


def predicate_expr(spec: dict[str, Any]) -> SparkColumn:
    """The Spark condition of a ``predicate`` selection on the (parent) column it names."""
    from pyspark.sql import functions as F
    col = qcol(spec["column"])
    family = Family(spec["family"])
    lo, hi = spec["min"], spec["max"]
    if family is Family.INTEGER:
        cond = col.cast("bigint").between(F.lit(int(lo)), F.lit(int(hi)))
    elif family is Family.DATE:
        cond = F.unix_date(col.cast("date")).between(F.lit(int(lo)), F.lit(int(hi)))
    elif family is Family.STRING:
        cond = col.between(F.lit(str(lo)), F.lit(str(hi)))
    else:
        raise ReconstructError(f"no predicate on family {family}")
    cond = F.coalesce(cond, F.lit(False))
    if spec.get("nulls"):
        cond = cond | col.isNull()
    return cond


def _candidates(child: TableProfile, proj: list[dict[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"kind": "all"}]
    parent_of = {m["child"]: m["parent"] for m in proj}
    for c in child.columns:
        st = child.stats.get(c.key)
        if c.family not in _PREDICATE_FAMILIES or st is None or not (st.min_exact and st.max_exact):
            continue
        if st.min is None or st.max is None:
            continue
        out.append({"kind": "predicate", "column": parent_of[c.name], "family": str(c.family),
                    "min": st.min, "max": st.max, "nulls": st.null_count != 0})
    return out


def child_hashes(spark: SparkSession, child: TableProfile, work: str | Path) -> tuple[DataFrame, cks.Checksum, int]:
    """The child's grouped row hashes (written once to ``work``, a local path or a URI), its checksum and
    distinct row count."""
    from pyspark.sql import functions as F
    grouped = cks.grouped_hashes(read_table(spark, child), child.columns)
    path = lakefs.spark_path(lakefs.join(str(work), "child-hashes"))
    grouped.write.parquet(path)
    g = spark.read.parquet(path)
    row = g.agg(*cks.grouped_aggs(F.lit(True), ""), F.count(F.lit(1)).alias("distinct")).first()
    assert row is not None
    return g, cks.from_row(row, ""), int(row["distinct"])


def build_recipe(spark: SparkSession, child: TableProfile, pin: dict[str, Any], *, work: str | Path,
                 store: str | Path) -> dict[str, Any]:
    """Build the recipe of ``child`` from the pinned parent; writes ``rows.parquet`` into ``store`` when
    the selection needs the child's row hashes. Does not write ``recipe.json`` (see :func:`save`)."""
    from pyspark.sql import functions as F
    parent = TableProfile.from_json(pin["profile"])
    cks.hash_columns(child.columns)  # refuses unsupported columns
    proj = projection(child, parent)
    grouped, child_sum, distinct = child_hashes(spark, child, work)
    if child.num_rows is not None and child.num_rows != child_sum.rows:
        raise ReconstructError(f"{child.location}: read {child_sum.rows} rows, the profile says {child.num_rows}")
    cands = _candidates(child, proj)
    pdf = read_table(spark, parent)
    pcols = [parent.column(c.key) for c in child.columns]
    hashed = cks.with_row_hash(pdf, pcols)
    flags = [F.lit(True) if c["kind"] == "all" else predicate_expr(c) for c in cands]
    sel = hashed.select(F.col("__a").alias("a"), F.col("__b").alias("b"),
                        *[f.cast("int").alias(f"p{k}") for k, f in enumerate(flags)])
    pg = sel.groupBy("a", "b").agg(F.count(F.lit(1)).alias("cnt"),
                                   *[F.max(f"p{k}").alias(f"p{k}") for k in range(len(cands))])
    aggs = []
    for k in range(len(cands)):
        keep = F.col(f"p{k}") == 1
        aggs += cks.grouped_aggs(keep, f"m{k}_") + cks.grouped_aggs(keep, f"d{k}_", distinct=True)
    row = pg.agg(*aggs).first()
    selection: dict[str, Any] | None = None
    for k, cand in enumerate(cands):
        for distinct_mode, prefix in ((False, f"m{k}_"), (True, f"d{k}_")):
            if cks.from_row(row, prefix) == child_sum:
                selection = {**cand, "distinct": distinct_mode}
                break
        if selection:
            break
    if selection is None:
        grouped.coalesce(1).write.parquet(lakefs.spark_path(lakefs.join(str(store), ROWS_FILE)))
        selection = {"kind": "hashes", "rows_file": ROWS_FILE, "distinct_rows": distinct}
    return {
        "format": RECIPE_FORMAT,
        "child": {"location": child.location, "format": child.format, "fingerprint": child.fingerprint,
                  "num_rows": child_sum.rows, "distinct_rows": distinct,
                  "columns": [column_json(c) for c in child.columns],
                  "partition_columns": list(child.partition_columns),
                  "single_file": len(child.files) == 1 and child.files[0].path == "",
                  "checksum": child_sum.to_json()},
        "parent": pin,
        "projection": proj,
        "selection": selection,
        "store": str(store),
    }


def save(recipe: dict[str, Any], store: str | Path) -> int:
    """Write ``recipe.json`` into ``store`` (fsync'ed; on an object store, one object written at once);
    returns the bytes of the whole recipe folder."""
    if lakefs.is_uri(str(store)):
        text = json.dumps(recipe, separators=(",", ":"), default=str).encode()
        lakefs.write_bytes(lakefs.join(str(store), RECIPE_FILE), text)
        return recipe_bytes(store)
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    path = store / RECIPE_FILE
    tmp = store / (RECIPE_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(recipe, fh, separators=(",", ":"), default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(store, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return recipe_bytes(store)


def recipe_bytes(store: str | Path) -> int:
    return sum(size for rel, size in lakefs.files_under(str(store)) if not rel.endswith(".crc"))


def store_problem(recipe: dict[str, Any]) -> str | None:
    """Why the recipe's stored files are not usable (None when they are)."""
    store = str(recipe["store"])
    if not lakefs.is_file(lakefs.join(store, RECIPE_FILE)):
        return f"recipe file {lakefs.join(store, RECIPE_FILE)} is missing"
    if recipe["selection"]["kind"] == "hashes" and not lakefs.exists(lakefs.join(store, ROWS_FILE)):
        return f"recipe row hashes {lakefs.join(store, ROWS_FILE)} are missing"
    return None


def discard(store: str | Path) -> None:
    with contextlib.suppress(OSError):
        lakefs.remove(str(store))
