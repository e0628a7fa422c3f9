"""Request and response bodies of the REST API (pydantic), and converters from catalog records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from r2d2.catalog.plans import PlanRecord
from r2d2.catalog.records import EdgeRecord, RunRecord, TableRecord
from r2d2.catalog.tokens import TokenRecord
from r2d2.strictjson import jsonable
from r2d2.vocabulary import EdgeRelation, EdgeState, MoveMode, RunKind, RunStatus, TableStatus, TokenRole

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
    total: int = Field(description="Items matching the filters, over all pages (may be up to 2 s old).")
    limit: int
    offset: int
    next_after_id: int | None = Field(
        default=None, description="Keyset pagination: pass as `after_id` for the next page (ordered by id); "
                                  "null on the last page, or when the listing is not in id order.")


class Table(BaseModel):
    id: int
    location: str
    format: str | None
    status: TableStatusName
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

    @classmethod
    def of(cls, r: TableRecord) -> Table:
        return cls(id=r.id, location=r.location, format=r.format, status=r.status, fingerprint=r.fingerprint,
                   num_rows=r.num_rows, num_bytes=r.num_bytes, num_files=r.num_files,
                   first_seen=r.first_seen, last_seen=r.last_seen, gone_at=r.gone_at,
                   profiled_at=r.profiled_at, error=r.error,
                   latency_limit_s=jsonable(r.latency_limit_s), access_per_day=jsonable(r.access_per_day))


class TableDetail(Table):
    profile: dict[str, Any] | None = Field(description="Schema, statistics and files (from metadata).")

    @classmethod
    def of(cls, r: TableRecord) -> TableDetail:
        return cls(**Table.of(r).model_dump(), profile=jsonable(r.profile.to_json()) if r.profile else None)


class Edge(BaseModel):
    """"parent contains child", with the decision of the last stage that looked at the pair."""

    id: int
    parent_id: int
    child_id: int
    parent: str = Field(description="Location of the parent (containing) table.")
    child: str = Field(description="Location of the child (contained) table.")
    relation: RelationName
    state: EdgeStateName
    verified: bool = Field(description="State is verified (exact stage) or inferred (transitivity).")
    stage: str
    multiset: bool | None
    stale: bool
    evidence: dict[str, Any]
    run_id: int | None
    updated_at: datetime

    @classmethod
    def of(cls, r: EdgeRecord) -> Edge:
        return cls(id=r.id, parent_id=r.parent_id, child_id=r.child_id, parent=r.parent_location,
                   child=r.child_location, relation=r.relation, state=r.state,
                   verified=r.state in ("verified", "inferred"), stage=r.stage, multiset=r.multiset,
                   stale=r.stale, evidence=jsonable(r.evidence), run_id=r.run_id, updated_at=r.updated_at)


class Run(BaseModel):
    id: int
    kind: str
    status: RunStatusName
    started_at: datetime
    finished_at: datetime | None
    params: dict[str, Any]
    progress: dict[str, Any] = Field(description="Scan: done/total tables; detect: the current stage.")
    stages: list[dict[str, Any]] = Field(
        description="Detect funnel: name, candidates_in, candidates_out, seconds, bytes_read per stage.")
    summary: dict[str, Any]
    errors: list[Any]
    pid: int | None
    host: str | None

    @classmethod
    def of(cls, r: RunRecord) -> Run:
        stages = r.summary.get("stages") if isinstance(r.summary.get("stages"), list) else []
        return cls(id=r.id, kind=r.kind, status=r.status, started_at=r.started_at, finished_at=r.finished_at,
                   params=jsonable(r.params), progress=jsonable(r.progress), stages=jsonable(stages),
                   summary=jsonable(r.summary), errors=jsonable(r.errors), pid=r.pid, host=r.host)


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roots: list[Annotated[SafeStr, Field(min_length=1, max_length=4096)]] = Field(
        min_length=1, max_length=64,
        description="Folders or URIs to scan; each under a configured lake root.")


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[SafeStr, Field(min_length=1, max_length=128, pattern=r"\S")]
    role: RoleName


class Token(BaseModel):
    id: int
    name: str
    role: RoleName
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, r: TokenRecord) -> Token:
        return cls(id=r.id, name=r.name, role=r.role, created_at=r.created_at, last_used_at=r.last_used_at,
                   revoked_at=r.revoked_at)


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


class PlanSummary(BaseModel):
    id: int
    created_at: datetime
    solver: str
    status: str
    objective: float | str
    bound: float | str
    gap: float | str
    solve_seconds: float
    savings_bytes: int
    savings_per_month: float | str
    deleted_tables: int
    params: dict[str, Any]

    @classmethod
    def of(cls, r: PlanRecord) -> PlanSummary:
        return cls(id=r.id, created_at=r.created_at, solver=r.solver, status=r.status,
                   objective=jsonable(r.objective), bound=jsonable(r.bound), gap=jsonable(r.gap),
                   solve_seconds=r.solve_seconds, savings_bytes=r.savings_bytes,
                   savings_per_month=jsonable(r.savings_per_month), deleted_tables=r.deleted_tables,
                   params=jsonable(r.params))


class Plan(PlanSummary):
    """A stored plan (as ``r2d2 plans ID --format json``)."""

    decisions: list[dict[str, Any]] = Field(
        description="Per table: action (keep | delete), location, parent_location, est_latency_s, ...")
    fingerprints: dict[str, str] = Field(description="Table id → fingerprint the plan was made on.")

    @classmethod
    def of(cls, r: PlanRecord) -> Plan:
        return cls(**PlanSummary.of(r).model_dump(), decisions=jsonable(r.plan.get("decisions", [])),
                   fingerprints=r.fingerprints)


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
