"""Dependencies of the routes: application state, catalog, auth (bearer tokens with roles).

Dependencies that do no I/O are ``async`` so that FastAPI does not hop to a worker thread for them;
those that query the catalog are plain functions (run in the thread pool). A verified token is kept
for :data:`TOKEN_TTL_S` (:class:`TokenCache`): without it every request queried the catalog once more
before its own query; a token revoked through this server is forgotten at once, one revoked elsewhere
(the CLI, another replica) within :data:`TOKEN_TTL_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.crud import ApiQueries
from api.jobs import RunJobs, SparkFactory
from api.locks import Locks
from api.metrics import RequestMetrics
from api.problems import Problem
from api.runner import RunService
from r2d2.catalog import Catalog
from r2d2.catalog.tokens import TokenRecord, hash_token
from r2d2.config import Settings
from r2d2.vocabulary import ROLE_RANK, TokenRole

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")]
AfterId = Annotated[int | None, Query(ge=0, le=2**63 - 1,
                                      description="Keyset pagination: only items with a larger id, "
                                                  "in id order (start with 0; see `next_after_id`).")]

TOKEN_TTL_S = 2.0
_CACHE_MAX = 4096


@dataclass
class TokenCache:
    """Tokens verified in the last :data:`TOKEN_TTL_S` seconds, by the SHA-256 of their secret."""

    catalog: Catalog
    ttl_s: float = TOKEN_TTL_S
    _hits: dict[str, tuple[float, TokenRecord]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cached(self, secret: str) -> TokenRecord | None:
        hit = self._hits.get(hash_token(secret))
        return hit[1] if hit is not None and time.monotonic() - hit[0] < self.ttl_s else None

    def verify(self, secret: str) -> TokenRecord | None:
        """The active token of ``secret`` (from the catalog), or None; remembered when valid."""
        record = self.catalog.verify_token(secret)
        if record is not None:
            with self._lock:
                if len(self._hits) >= _CACHE_MAX:
                    self._hits.clear()
                self._hits[hash_token(secret)] = (time.monotonic(), record)
        return record

    def forget(self) -> None:
        """Drop every remembered token (after a revocation)."""
        with self._lock:
            self._hits.clear()


@dataclass
class AppState:
    """Everything one application instance shares between requests (built at start-up)."""

    settings: Settings
    catalog: Catalog
    queries: ApiQueries
    runner: RunService
    locks: Locks
    jobs: RunJobs
    metrics: RequestMetrics
    spark: SparkFactory
    tokens: TokenCache


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.r2d2
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_catalog(state: StateDep) -> Catalog:
    return state.catalog


async def get_queries(state: StateDep) -> ApiQueries:
    return state.queries


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
QueriesDep = Annotated[ApiQueries, Depends(get_queries)]

_bearer = HTTPBearer(auto_error=False, description="A token from `r2d2 token create NAME --role ROLE`.")


def _unauthorized(detail: str, error: str | None = None) -> Problem:
    challenge = 'Bearer realm="r2d2"' + (f', error="{error}"' if error else "")
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


async def current_token(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenRecord:
    """The caller's token; 401 when missing, unknown or revoked."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer token is required")
    record = state.tokens.cached(credentials.credentials)
    if record is None:
        record = await run_in_threadpool(state.tokens.verify, credentials.credentials)
    if record is None:
        raise _unauthorized("the bearer token is invalid or revoked", "invalid_token")
    return record


def require(role: TokenRole) -> Callable[[TokenRecord], Awaitable[TokenRecord]]:
    """A dependency admitting tokens of ``role`` or a higher one (403 otherwise)."""
    needed = ROLE_RANK[role]

    async def check(token: Annotated[TokenRecord, Depends(current_token)]) -> TokenRecord:
        if ROLE_RANK.get(token.role, -1) < needed:
            raise Problem(403, f"this operation needs the {role} role; token {token.id} has {token.role}")
        return token

    check.__name__ = f"require_{role}"
    return check


Reader = Annotated[TokenRecord, Depends(require("reader"))]
Operator = Annotated[TokenRecord, Depends(require("operator"))]
Admin = Annotated[TokenRecord, Depends(require("admin"))]
