"""Access statistics: the cost inputs the optimizer weighs rebuilds with."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Operator, QueriesDep
from api.schemas import AccessImportRequest, AccessImportResult

router = APIRouter(prefix="/access", tags=["access"])


@router.post("/import", summary="Import access counts per table")
def import_access(queries: QueriesDep, _: Operator, body: AccessImportRequest) -> AccessImportResult:
    """Rows of (location, count, window_days) become accesses per day of the catalog's tables (as
    ``r2d2 access import``): rows of one location add up; a missing window means 30 days; locations
    the catalog does not know are listed in ``unknown`` and ignored."""
    parsed, updated, unknown = queries.import_access(r.model_dump() for r in body.rows)
    return AccessImportResult(rows=parsed.rows, updated=list(updated), unknown=list(unknown),
                              errors=parsed.errors, access_per_day={loc: parsed.rates[loc] for loc in updated})
