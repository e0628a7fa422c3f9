"""Lookups: is this table already in the lake? (``r2d2 lookup`` over HTTP; :func:`r2d2.lookup.lookup`.)

* ``POST /lookups`` (reader): a table under a configured lake root (the API's path checks,
  :mod:`api.paths`, then discovery's confinement rule: a link out of the table's folder is refused).
  ``register: true`` also adds it to the catalog, which needs the operator role.
* ``POST /lookups/upload`` (reader): one Parquet or CSV file in a ``multipart/form-data`` body, stored
  under the work folder (``<work>/uploads/<random>/``), looked up, and **always removed** afterwards: an
  upload is not part of the lake, so it is never registered (write the file into the lake and use
  ``POST /lookups`` with ``register`` for that).

Synchronous when small: a table whose data files total at most ``local_read_bytes`` (the size R2D2
reads on the driver, without Spark; 256 MiB by default) is answered at once, ``200`` with the answer.
A larger table is looked up in a background run of kind ``lookup`` (``202``, the run in the body and
its URL in ``Location``; ``409`` while another run goes): the run's ``summary`` is the same answer. An
upload larger than ``local_read_bytes`` is refused (``413``). Every lookup records a run either way.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Reader, StateDep
from api.paths import check_lake_location
from api.problems import Problem
from api.routes.runs import RUN_CONFLICT
from api.schemas import Run, SafeStr
from r2d2.errors import TableReadError, UnsupportedTableError
from r2d2.lake import fs as lakefs
from r2d2.lake.discover import DiscoveredTable, data_format, discover
from r2d2.vocabulary import ROLE_RANK, EdgeRelation

router = APIRouter(prefix="/lookups", tags=["lookups"])

UPLOAD_CHUNK = 1 << 20
UPLOAD_SUFFIXES = (".csv.gz", ".parquet", ".parq", ".csv")  # the data-file names discovery knows


class LookupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: Annotated[SafeStr, Field(min_length=1, max_length=4096,
                                       description="Absolute path or URI of the table, under a configured "
                                                   "lake root (a folder, a Delta table or one data file).")]
    # "register" in JSON: a field of that name would shadow BaseModel.register (ABCMeta's)
    register_table: bool = Field(default=False, alias="register",
                                 description="Also add the table to the catalog (operator role).")


class LookupMatch(BaseModel):
    """A catalogued table related to the looked-up one, in the edge vocabulary (``GET /edges``)."""

    location: str
    role: Literal["duplicate", "parent", "child"] = Field(
        description="duplicate: same columns and rows; parent: it contains the looked-up table; "
                    "child: the looked-up table contains it.")
    relation: EdgeRelation = Field(description="duplicate, contains or overlaps.")
    multiset: bool | None = Field(description="Every row's count in the child is at most its count in the parent.")
    fraction: float | None = Field(description="overlaps: share of the child's distinct rows found in the parent; "
                                               "null for other relations.")
    except_columns: list[str] = Field(description="contains: the child's generated key columns left out of the "
                                                  "test (report-only); empty for an exact containment.")


class LookupStage(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    candidates_in: int
    candidates_out: int
    seconds: float


class LookupAnswer(BaseModel):
    """The answer of a lookup (as ``r2d2 lookup --format json``)."""

    location: str = Field(description="The table looked up (an upload: its file name).")
    table_id: int | None = Field(description="Its catalog id when catalogued (unchanged) or registered now.")
    registered: bool = Field(description="Added to the catalog by this lookup.")
    duplicates: list[LookupMatch]
    parents: list[LookupMatch] = Field(description="Tables that contain it.")
    children: list[LookupMatch] = Field(description="Tables it contains.")
    stages: list[LookupStage] = Field(description="The funnel of the pairs it took part in.")
    errors: list[dict[str, Any]] = Field(description="Tables that could not be compared: location, error.")
    seconds: float
    run_id: int = Field(description="The lookup's recorded run (`GET /runs/{id}`).")


ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"model": Run, "description": "A table too big to read without Spark (more than `local_read_bytes`): "
                                       "looked up in a background run of kind `lookup`, whose `summary` "
                                       "becomes the answer; `Location` is the run's URL."},
    **RUN_CONFLICT,
    403: {"description": "Outside the lake roots, a link out of the table's folder, or `register` without the "
                         "operator role."},
    404: {"description": "Nothing at this location."},
    422: {"description": "Invalid body, or the location is not one readable table."},
}


def _one_table(location: str) -> DiscoveredTable:
    """The table at ``location`` (discovery applies the confinement rule: links may not leave it)."""
    if not lakefs.exists(location):
        raise Problem(404, f"{location}: no such file or folder")
    found = discover([location])
    escaped = [e for e in found.errors if e.escaped]
    if escaped:
        raise Problem(403, escaped[0].message, type="path-escape", field="location")
    if found.errors:
        raise Problem(422, found.errors[0].message, errors=[
            {"field": "location", "in": "body", "message": found.errors[0].message}])
    if len(found.tables) != 1 or found.tables[0].location != location:
        message = f"{location!r} is not one table (found {len(found.tables)} tables under it)"
        raise Problem(422, message, errors=[{"field": "location", "in": "body", "message": message}])
    return found.tables[0]


def _answer(state: StateDep, location: str, *, register: bool, shown_as: str | None = None) -> LookupAnswer:
    from r2d2 import operations

    try:
        done = operations.lookup(state.catalog, state.settings, state.spark, location, register=register)
    except (TableReadError, UnsupportedTableError) as exc:  # the caller's table, not the server, is at fault
        field = "file" if shown_as is not None else "location"
        message = str(exc).replace(location, shown_as) if shown_as is not None else str(exc)
        raise Problem(422, message, errors=[{"field": field, "in": "body", "message": message}]) from exc
    body = {**done.value.to_json(), "run_id": done.run_id}
    if shown_as is not None:
        body["location"] = shown_as
    return LookupAnswer.model_validate(body)


@router.post("", summary="Is this table already in the lake?", response_model=LookupAnswer, responses=ANSWERS)
def lookup(state: StateDep, token: Reader, body: LookupRequest) -> Any:
    """The catalogued tables that duplicate, contain or are contained in the table at ``location``:
    the five stages run for the pairs it takes part in, against the catalog's profiles and cached hash
    sets (no full detect): what a full detect reports for it (exact containments and duplicates,
    overlaps, containments except generated keys), with the edge vocabulary (``relation``,
    ``multiset``, ``fraction``, ``except_columns``). Answered at once for a table of at most
    ``local_read_bytes`` (no Spark); larger ones run in the background (``202``)."""
    if body.register_table and ROLE_RANK.get(token.role, -1) < ROLE_RANK["operator"]:
        raise Problem(403, f"registering a table needs the operator role; token {token.id} has {token.role}")
    location = check_lake_location(body.location, state.settings.lake_roots, field="location")
    table = _one_table(location)
    if sum(f.size for f in table.files) <= state.settings.local_read_bytes:
        return _answer(state, location, register=body.register_table)
    return _in_background(state, location, body.register_table)


def _in_background(state: StateDep, location: str, register: bool) -> JSONResponse:
    from r2d2 import operations

    settings, spark = state.settings, state.spark
    run_id = state.runner.submit(
        "lookup", lambda catalog: operations.lookup(catalog, settings, spark, location, register=register))
    run = Run.model_validate(state.catalog.get_run(run_id)).model_dump(mode="json")
    return JSONResponse(run, status_code=202, headers={"Location": f"/runs/{run_id}"})


UPLOAD_ANSWERS: dict[int | str, dict[str, Any]] = {
    413: {"description": "The file is larger than `local_read_bytes`."},
    422: {"description": "Not a `.parquet` or `.csv` file, or not readable as one."},
}


@router.post("/upload", summary="Is this file already in the lake? (upload, never registered)",
             response_model=LookupAnswer, responses=UPLOAD_ANSWERS)
def lookup_upload(state: StateDep, _: Reader,
                  file: Annotated[UploadFile, File(description="One Parquet (`.parquet`) or CSV (`.csv`, "
                                                               "`.csv.gz`) file; its name gives the format.")],
                  ) -> LookupAnswer:
    """Store the file under the work folder, look it up as ``POST /lookups`` does, and remove it (always:
    an upload is not part of the lake, so it is never registered). ``location`` in the answer is the
    file's name. Synchronous; files larger than ``local_read_bytes`` are refused (``413``)."""
    name = Path(file.filename or "").name
    suffix = next((s for s in UPLOAD_SUFFIXES if name.lower().endswith(s)), None)
    if suffix is None or data_format(name) is None:
        message = f"{name or 'the file'!r}: not a .parquet, .parq, .csv or .csv.gz file"
        raise Problem(422, message, errors=[{"field": "file", "in": "body", "message": message}])
    folder = state.settings.work_dir / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        target = folder / f"upload{suffix}"  # never a hidden or '_' name, which discovery skips
        limit, written = state.settings.local_read_bytes, 0
        with target.open("wb") as out:
            while chunk := file.file.read(UPLOAD_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise Problem(413, f"the file is larger than {limit} bytes (local_read_bytes): put it in the "
                                       "lake and use POST /lookups", type="too-large")
                out.write(chunk)
        return _answer(state, str(target), register=False, shown_as=name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
