"""Bearer tokens of the REST API: only a SHA-256 of each secret is stored.

A token is ``r2d2_`` followed by a 32-byte URL-safe random secret; it is shown once, at creation.
Verification looks the token up by its hash (so no secret is ever compared character by character)
and records when it was last used, at most once a minute per token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import insert, or_, select, update

from r2d2.catalog._base import RepositoryBase, utcnow
from r2d2.catalog.models import TOKEN_ROLES, ApiTokenRow
from r2d2.errors import CatalogError, NotFoundError
from r2d2.vocabulary import TokenRole

TOKEN_PREFIX = "r2d2_"
TOUCH_INTERVAL = timedelta(minutes=1)
_NAME_MAX = 128


def hash_token(plaintext: str) -> str:
    """SHA-256 hex digest of a token's text (what the catalog stores)."""
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    """An API token as the catalog knows it (never its secret)."""

    id: int
    name: str
    role: TokenRole
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _record(row: Any) -> TokenRecord:
    m = row._mapping
    return TokenRecord(id=m["id"], name=m["name"], role=cast(TokenRole, m["role"]),
                       created_at=m["created_at"], last_used_at=m["last_used_at"],
                       revoked_at=m["revoked_at"])


_COLUMNS = (ApiTokenRow.id, ApiTokenRow.name, ApiTokenRow.role, ApiTokenRow.created_at,
            ApiTokenRow.last_used_at, ApiTokenRow.revoked_at)


class TokensRepository(RepositoryBase):
    """API tokens."""

    def create_token(self, name: str, role: str) -> tuple[int, str]:
        """Create a token; returns ``(id, plaintext)`` — the plaintext is not stored anywhere."""
        name = name.strip()
        if not 1 <= len(name) <= _NAME_MAX:
            raise ValueError(f"token name must have 1 to {_NAME_MAX} characters, got {len(name)}")
        if role not in TOKEN_ROLES:
            raise ValueError(f"token role must be one of {', '.join(TOKEN_ROLES)}, got {role!r}")
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as conn:
            token_id = conn.execute(
                insert(ApiTokenRow).values(name=name, role=role, token_hash=hash_token(plaintext),
                                           created_at=utcnow()).returning(ApiTokenRow.id)
            ).scalar_one()
        return int(token_id), plaintext

    def list_tokens(self, *, include_revoked: bool = True) -> list[TokenRecord]:
        """Tokens by id."""
        stmt = select(*_COLUMNS).order_by(ApiTokenRow.id)
        if not include_revoked:
            stmt = stmt.where(ApiTokenRow.revoked_at.is_(None))
        with self._read() as conn:
            return [_record(r) for r in conn.execute(stmt)]

    def get_token(self, token_id: int) -> TokenRecord:
        with self._read() as conn:
            row = conn.execute(select(*_COLUMNS).where(ApiTokenRow.id == token_id)).first()
        if row is None:
            raise NotFoundError(f"token {token_id} is not in the catalog")
        return _record(row)

    def revoke_token(self, token_id: int) -> TokenRecord:
        """Revoke a token (idempotent: an already revoked token keeps its revocation time)."""
        with self._write() as conn:
            found = conn.execute(
                update(ApiTokenRow).where(ApiTokenRow.id == token_id)
                .values(revoked_at=utcnow()).where(ApiTokenRow.revoked_at.is_(None))
            ).rowcount
            if not found and conn.execute(
                    select(ApiTokenRow.id).where(ApiTokenRow.id == token_id)).first() is None:
                raise NotFoundError(f"token {token_id} is not in the catalog")
        return self.get_token(token_id)

    def verify_token(self, plaintext: str) -> TokenRecord | None:
        """The active token whose secret is ``plaintext``, or None (unknown or revoked)."""
        if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 256:
            return None
        digest = hash_token(plaintext)
        with self._read() as conn:
            row = conn.execute(
                select(*_COLUMNS, ApiTokenRow.token_hash)
                .where(ApiTokenRow.token_hash == digest, ApiTokenRow.revoked_at.is_(None))
            ).first()
        if row is None or not hmac.compare_digest(row._mapping["token_hash"], digest):
            return None
        record = _record(row)
        now = utcnow()
        if record.last_used_at is None or now - record.last_used_at >= TOUCH_INTERVAL:
            self._touch(record.id, now)
        return record

    def _touch(self, token_id: int, now: datetime) -> None:
        """Best effort: a busy catalog must not fail an authenticated request."""
        try:
            with self._write() as conn:
                conn.execute(
                    update(ApiTokenRow)
                    .where(ApiTokenRow.id == token_id,
                           or_(ApiTokenRow.last_used_at.is_(None),
                               ApiTokenRow.last_used_at <= now - TOUCH_INTERVAL))
                    .values(last_used_at=now)
                )
        except CatalogError:
            pass
