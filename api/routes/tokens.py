"""API token management (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from api.deps import Admin, CatalogDep, StateDep
from api.schemas import Token, TokenCreate, TokenCreated

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a token (shown once)")
def create_token(catalog: CatalogDep, _: Admin, body: TokenCreate) -> TokenCreated:
    token_id, plaintext = catalog.create_token(body.name, body.role)
    return TokenCreated(**Token.model_validate(catalog.get_token(token_id)).model_dump(), token=plaintext)


@router.get("", summary="List tokens")
def list_tokens(catalog: CatalogDep, _: Admin) -> list[Token]:
    return [Token.model_validate(t) for t in catalog.list_tokens()]


@router.delete("/{token_id}", summary="Revoke a token", responses={404: {"description": "No such token."}})
def revoke_token(catalog: CatalogDep, state: StateDep, _: Admin,
                 token_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Token:
    revoked = catalog.revoke_token(token_id)
    state.tokens.forget()  # takes effect on this server's next request
    return Token.model_validate(revoked)
