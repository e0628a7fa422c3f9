"""Request and response bodies of the REST API (pydantic).

Records' shapes (tables, edges, runs, tokens, plans) are :mod:`r2d2.views`, shared with the CLI's JSON
and read from the catalog's records (``from_attributes``); they are re-exported here.
"""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from r2d2.strictjson import jsonable
from r2d2.views import Edge, Plan, PlanSummary, Run, Table, TableDetail, Token
from r2d2.vocabulary import EdgeRelation, EdgeState, MoveMode, RunKind, RunStatus, TableStatus, TokenRole

__all__ = ["Edge", "Plan", "PlanSummary", "Run", "Table", "TableDetail", "Token", "jsonable"]

T = TypeVar("T")

# The names of r2d2.vocabulary, as the API's schemas call them.
TableStatusName = TableStatus
EdgeStateName = EdgeState
RelationName = EdgeRelation
RunStatusName = RunStatus
RunKindName = RunKind
RoleName = TokenRole
MoveModeName = MoveMode


def _printable(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("control characters are not allowed")
    return value


SafeStr = Annotated[str, AfterValidator(_printable)]


class ProblemDetail(BaseModel):
    """An error (RFC 9457); ``type`` is documented at its URI (``GET /problems/{slug}``); 422 problems list
    the invalid fields in ``errors``."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(default="about:blank", description="URI of the problem type, e.g. /problems/lock-busy.")
    title: str
    status: int
    detail: str
    instance: str | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Items matching the filters, over all pages (may be up to 4 s old).")
    limit: int
    offset: int
    next_after_id: int | None = Field(
        default=None, description="Keyset pagination: pass as `after_id` for the next page (ordered by id); "
                                  "null on the last page, or when the listing is not in id order.")


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roots: list[Annotated[SafeStr, Field(min_length=1, max_length=4096)]] = Field(
        min_length=1, max_length=64,
        description="Folders or URIs to scan; each under a configured lake root.")
    retry_errors: bool = Field(
        default=False, description="Profile again the tables a scan failed on, even if their files did not "
                                   "change (once the cause is fixed).")


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[SafeStr, Field(min_length=1, max_length=128, pattern=r"\S")]
    role: RoleName


class TokenCreated(Token):
    token: str = Field(description="The bearer token; shown only once.")


class Health(BaseModel):
    status: Literal["ok"]
    catalog: Literal["ok"] = Field(description="The catalog database answered.")


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str] = Field(description="catalog, schema, run_worker: each `ok`.")


class ProblemTypeDoc(BaseModel):
    type: str = Field(description="The `type` of problem details of this kind.")
    status: int
    title: str
    description: str


# --- plans, apply, restore, access, maintenance ---------------------------------------------------

_Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class PlanCreate(BaseModel):
    """Inputs of the optimizer (the same as ``r2d2 plan``)."""

    model_config = ConfigDict(extra="forbid")
    latency_limit_s: float | None = Field(
        default=3600.0, ge=0, le=1e9, allow_inf_nan=False,
        description="Default longest acceptable rebuild, in seconds, for tables without their own "
                    "limit; null: no limit.")
    access_default: float = Field(default=1.0, ge=0, le=1e9, allow_inf_nan=False,
                                  description="Accesses per month for tables without an imported record.")
    solver: Literal["milp", "greedy"] = "milp"
    time_limit_s: float = Field(default=30.0, ge=0.1, le=300, allow_inf_nan=False,
                                description="Seconds for the exact solve (in the background run).")
    storage_price: _Money = Field(default=0.023, description="Money per GB-month stored.")
    compute_price: _Money = Field(default=0.50, description="Money per hour of rebuild compute.")


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(default=False, description="Check drift and list what would be deleted; change "
                                                     "nothing. Answered at once (200), no run.")
    prepare_only: bool = Field(default=False, description="Build and check the recipes; move nothing.")
    move_mode: MoveModeName = "auto"


class ApplyItem(BaseModel):
    location: str
    parent: str | None
    action: str = Field(description="deleted | would-delete | prepared | refused | failed | skipped")
    reason: str
    recipe_id: int | None
    deletion_id: int | None
    selection: str | None
    seconds: float


class ApplyReport(BaseModel):
    plan_id: int
    dry_run: bool
    items: list[ApplyItem]


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    move_mode: MoveModeName = "auto"


class AccessRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: Annotated[SafeStr, Field(min_length=1, max_length=4096,
                                       pattern=r"^(/|[A-Za-z][A-Za-z0-9+.-]*://)",
                                       description="Absolute path or URI of the table.")]
    count: float = Field(ge=0, le=1e15, allow_inf_nan=False, description="Accesses in the window.")
    window_days: float | None = Field(default=None, gt=0, le=36500, allow_inf_nan=False,
                                      description="Length of the window in days (default 30).")


class AccessImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[AccessRow] = Field(min_length=1, max_length=100_000)


class AccessImportResult(BaseModel):
    rows: int
    updated: list[str] = Field(description="Catalog tables whose accesses per day were set.")
    unknown: list[str] = Field(description="Locations not in the catalog (ignored).")
    errors: list[str]
    access_per_day: dict[str, float] = Field(description="Accesses per day stored, by updated location.")


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    restore_at_risk: bool = Field(default=True, description="Restore deleted tables whose parent changed.")


class PurgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    older_than_s: float = Field(default=7 * 86400.0, ge=0, le=3650 * 86400.0, allow_inf_nan=False,
                                description="Retention: purge tables quarantined longer than this.")


class PurgeResult(BaseModel):
    purged: list[str]
    kept: list[dict[str, str]] = Field(description="location and why it was kept.")


class RecoverResult(BaseModel):
    actions: list[str]
    problems: list[str]
