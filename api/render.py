"""JSON bodies of the list endpoints, written straight from catalog records.

``GET /edges`` and ``GET /tables`` are the API's hot paths. Building a pydantic model per row and
letting FastAPI validate and serialise the page again cost about three quarters of a request's time
(measured in ``bench/results/api.md``); here each row becomes a plain dict in the exact shape of its
schema (:class:`api.schemas.Edge`, :class:`api.schemas.Table`; ``tests/test_api_service.py`` checks both
give the same JSON), and the page is encoded once, by orjson (datetimes in C, as pydantic writes them:
the standard library's encoder and ``isoformat`` were a third of a page's time). The routes keep their
``response_model`` for the OpenAPI document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.responses import Response

from api.schemas import jsonable
from r2d2.catalog.plans import PlanRecord
from r2d2.catalog.records import EdgeRecord, TableRecord

_VERIFIED = ("verified", "inferred")


def _float(value: float | None) -> float | None:
    """As pydantic writes a float field: non-finite values as null."""
    return None if value is None or not math.isfinite(value) else float(value)


def edge(r: EdgeRecord) -> dict[str, Any]:
    return {"id": r.id, "parent_id": r.parent_id, "child_id": r.child_id, "parent": r.parent_location,
            "child": r.child_location, "relation": r.relation, "state": r.state, "verified": r.state in _VERIFIED,
            "stage": r.stage, "multiset": r.multiset, "stale": r.stale, "evidence": jsonable(r.evidence),
            "run_id": r.run_id, "updated_at": r.updated_at}


def table(r: TableRecord) -> dict[str, Any]:
    return {"id": r.id, "location": r.location, "format": r.format, "status": r.status,
            "fingerprint": r.fingerprint, "num_rows": r.num_rows, "num_bytes": r.num_bytes,
            "num_files": r.num_files, "first_seen": r.first_seen, "last_seen": r.last_seen,
            "gone_at": r.gone_at, "profiled_at": r.profiled_at, "error": r.error,
            "latency_limit_s": _float(r.latency_limit_s), "access_per_day": _float(r.access_per_day)}


def _num(value: float) -> float | str:
    return jsonable(float(value))


def plan_summary(r: PlanRecord) -> dict[str, Any]:
    return {"id": r.id, "created_at": r.created_at, "solver": r.solver, "status": r.status,
            "objective": _num(r.objective), "bound": _num(r.bound), "gap": _num(r.gap),
            "solve_seconds": float(r.solve_seconds), "savings_bytes": r.savings_bytes,
            "savings_per_month": _num(r.savings_per_month), "deleted_tables": r.deleted_tables,
            "params": jsonable(r.params)}


def page(items: Sequence[dict[str, Any]], *, total: int, limit: int, offset: int,
         next_after_id: int | None = None) -> Response:
    """A :class:`api.schemas.Page` as a response, encoded once (datetimes in UTC as ``...Z``)."""
    body = orjson.dumps({"items": items, "total": total, "limit": limit, "offset": offset,
                         "next_after_id": next_after_id}, option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json")
