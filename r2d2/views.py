"""The public shape of the catalog's records, one definition for every front end.

The API's responses (:mod:`api.schemas` re-exports these) and the CLI's ``--format json`` are these
models, read from the records (``Model.model_validate(record)``: ``from_attributes``), never copied field
by field. Values are strict JSON (:func:`r2d2.strictjson.jsonable`): inside documents (evidence,
params, summaries) non-finite floats become ``"NaN"``/``"Infinity"``; a float field that is not finite
is written as null (pydantic's rule). ``api/render.py`` writes the two hot list pages without these
models, in the same shape (``tests/test_api_service.py`` compares them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

from r2d2.strictjson import jsonable
from r2d2.vocabulary import EdgeRelation, EdgeState, RunStatus, TableStatus, TokenRole

__all__ = ["Edge", "Plan", "PlanSummary", "Run", "Table", "TableDetail", "Token"]

Jsonable = BeforeValidator(jsonable)
Doc = Annotated[dict[str, Any], Jsonable]
Docs = Annotated[list[Any], Jsonable]
#: A plan's money and gap: a non-finite value as its strict-JSON string (an unbounded solve has no gap).
Num = Annotated[float | str, Jsonable]


def _profile(value: Any) -> Any:
    return None if value is None else jsonable(value.to_json() if hasattr(value, "to_json") else value)


class _View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Table(_View):
    id: int
    location: str
    format: str | None
    status: TableStatus
    fingerprint: str | None
    num_rows: int | None
    num_bytes: int
    num_files: int
    first_seen: datetime
    last_seen: datetime
    gone_at: datetime | None
    profiled_at: datetime | None
    error: str | None
    latency_limit_s: float | None
    access_per_day: float | None


class TableDetail(Table):
    profile: Annotated[dict[str, Any] | None, BeforeValidator(_profile)] = Field(
        description="Schema, statistics and files (from metadata).")


class Edge(_View):
    """"parent contains child", with the decision of the last stage that looked at the pair."""

    id: int
    parent_id: int
    child_id: int
    parent: str = Field(validation_alias=AliasChoices("parent_location", "parent"),
                        description="Location of the parent (containing) table.")
    child: str = Field(validation_alias=AliasChoices("child_location", "child"),
                       description="Location of the child (contained) table.")
    relation: EdgeRelation
    state: EdgeState
    verified: bool = Field(description="State is verified (exact stage) or inferred (transitivity).")
    stage: str
    multiset: bool | None
    stale: bool
    evidence: Doc
    fraction: float | None = Field(description="overlaps: share of the child's distinct rows found in the "
                                               "parent; null for other relations.")
    except_columns: list[str] = Field(description="contains: the child's generated key columns left out of "
                                                  "the test (report-only; empty for an exact containment).")
    deletable: bool = Field(description="Verified exact containment or duplicate: the child may be planned "
                                        "for deletion (overlaps and key exceptions are report-only).")
    run_id: int | None
    updated_at: datetime


class Run(_View):
    id: int
    kind: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    params: Doc
    progress: Doc = Field(description="Scan: done/total tables; detect: the current stage.")
    stages: Docs = Field(
        description="Detect funnel: name, candidates_in, candidates_out, seconds, bytes_read per stage.")
    summary: Doc
    errors: Docs
    pid: int | None
    host: str | None


class Token(_View):
    id: int
    name: str
    role: TokenRole
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class PlanSummary(_View):
    id: int
    created_at: datetime
    solver: str
    status: str
    objective: Num
    bound: Num
    gap: Num
    solve_seconds: float
    savings_bytes: int
    savings_per_month: Num
    deleted_tables: int
    params: Doc


class Plan(PlanSummary):
    """A stored plan (as ``r2d2 plans ID --format json``)."""

    decisions: Annotated[list[dict[str, Any]], Jsonable] = Field(
        description="Per table: action (keep | delete), location, parent_location, est_latency_s, ...")
    fingerprints: dict[str, str] = Field(description="Table id → fingerprint the plan was made on.")


def as_json(view: type[BaseModel], record: Any) -> dict[str, Any]:
    """``record`` in the shape of ``view``, as JSON data (what ``--format json`` prints)."""
    return view.model_validate(record).model_dump(mode="json")
