"""JSON bodies of the list endpoints, written straight from the database driver's rows.

``GET /edges`` and ``GET /tables`` are the API's hot paths. Building a pydantic model per row and
letting FastAPI validate and serialise the page again cost about three quarters of a request's time
(measured in ``bench/results/api.md``); here each row becomes a plain dict in the exact shape of its
schema (:class:`r2d2.views.Edge`, :class:`r2d2.views.Table`; ``tests/test_api_service.py`` checks both
give the same JSON), and the page is encoded once, by orjson (datetimes in C, as pydantic writes them:
the standard library's encoder and ``isoformat`` were a third of a page's time). The routes keep their
``response_model`` for the OpenAPI document.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

from r2d2.catalog._base import RawRows, json_value, utc_value
from r2d2.catalog.records import deletable, except_columns, overlap_fraction
from r2d2.strictjson import jsonable
from r2d2.vocabulary import VERIFIED_STATES


def _float(value: float | None) -> float | None:
    """As pydantic writes a float field: non-finite values as null."""
    return None if value is None or not math.isfinite(value) else float(value)


# --- straight from the driver's rows (the list endpoints) -------------------------------------------

_TAGGED = "__float__"  # how the catalog stores a non-finite float in JSON (r2d2.catalog.db.json_dumps)


def _when(value: Any) -> Any:
    """A datetime column: SQLite's UTC text as pydantic writes it (``...T...Z``), else a UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.replace(" ", "T", 1)
        if text.endswith(".000000"):
            text = text[:-7]  # as isoformat() without microseconds
        return text + "Z"
    return utc_value(value)


def _json(value: Any) -> Any:
    """A JSON column: stored text embedded as is when it holds only strict JSON, else strict data."""
    if isinstance(value, str):
        if _TAGGED not in value:
            return orjson.Fragment(value)
        value = json_value(value)
    return jsonable(value or {})


def _evidence_of(relation: str, value: Any) -> Mapping[str, Any]:
    """The evidence as far as ``fraction``, ``except_columns`` and ``deletable`` need it: decoded only
    when it can matter (an overlap, or stored text naming key exceptions), not for every row."""
    if isinstance(value, str):
        if relation != "overlaps" and '"except_columns"' not in value:
            return {}
        value = json_value(value)
    return value or {}


def edge_rows(raw: RawRows) -> list[dict[str, Any]]:
    """The rows of :meth:`r2d2.catalog.Catalog.edge_page_rows` in the shape of :class:`r2d2.views.Edge`."""
    k = raw.keys
    i_id, i_p, i_c, i_pl, i_cl = k["id"], k["parent_id"], k["child_id"], k["parent_location"], k["child_location"]
    i_rel, i_state, i_stage, i_ms, i_stale = k["relation"], k["state"], k["stage"], k["multiset"], k["stale"]
    i_ev, i_run, i_up = k["evidence"], k["run_id"], k["updated_at"]
    out = []
    for r in raw.rows:
        multiset, relation, state = r[i_ms], r[i_rel], r[i_state]
        evidence = _evidence_of(relation, r[i_ev])
        out.append({"id": r[i_id], "parent_id": r[i_p], "child_id": r[i_c], "parent": r[i_pl], "child": r[i_cl],
                    "relation": relation, "state": state, "verified": state in VERIFIED_STATES,
                    "stage": r[i_stage], "multiset": None if multiset is None else bool(multiset),
                    "stale": bool(r[i_stale]), "evidence": _json(r[i_ev]),
                    "fraction": overlap_fraction(relation, evidence),
                    "except_columns": list(except_columns(evidence)),
                    "deletable": deletable(state, relation, evidence),
                    "run_id": r[i_run], "updated_at": _when(r[i_up])})
    return out


def table_rows(raw: RawRows) -> list[dict[str, Any]]:
    """The rows of :meth:`r2d2.catalog.Catalog.table_page_rows` in the shape of :class:`r2d2.views.Table`."""
    k = raw.keys
    return [{"id": r[k["id"]], "location": r[k["location"]], "format": r[k["format"]], "status": r[k["status"]],
             "fingerprint": r[k["fingerprint"]], "num_rows": r[k["num_rows"]], "num_bytes": r[k["num_bytes"]],
             "num_files": r[k["num_files"]], "first_seen": _when(r[k["first_seen"]]),
             "last_seen": _when(r[k["last_seen"]]), "gone_at": _when(r[k["gone_at"]]),
             "profiled_at": _when(r[k["profiled_at"]]), "error": r[k["error"]],
             "latency_limit_s": _float(r[k["latency_limit_s"]]), "access_per_day": _float(r[k["access_per_day"]])}
            for r in raw.rows]


def page(items: Sequence[dict[str, Any]], *, total: int, limit: int, offset: int,
         next_after_id: int | None = None) -> Response:
    """A :class:`api.schemas.Page` as a response, encoded once (datetimes in UTC as ``...Z``)."""
    body = orjson.dumps({"items": items, "total": total, "limit": limit, "offset": offset,
                         "next_after_id": next_after_id}, option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json")
