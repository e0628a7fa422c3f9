"""API tokens in the catalog (hashed storage, verification, revocation) and `r2d2 token` commands."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from r2d2.catalog import Catalog, open_catalog
from r2d2.catalog import tokens as tokens_mod
from r2d2.catalog.db import get_engine
from r2d2.cli.main import _register_subcommands, cli
from r2d2.errors import NotFoundError


@pytest.fixture
def cat(catalog_url: str):
    catalog = open_catalog(catalog_url)
    yield catalog
    catalog.close()


def test_create_stores_only_the_hash(cat: Catalog, catalog_url: str) -> None:
    token_id, secret = cat.create_token("ci", "operator")
    assert secret.startswith("r2d2_") and len(secret) >= 5 + 43  # 32 random bytes, URL-safe base64
    with get_engine(catalog_url).connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM api_tokens"))]
    assert len(rows) == 1 and rows[0]["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(v) for v in rows[0].values())
    record = cat.verify_token(secret)
    assert record is not None and (record.id, record.name, record.role) == (token_id, "ci", "operator")
    assert cat.create_token("ci", "operator")[1] != secret  # a fresh secret every time


def test_verify_rejects_unknown_tampered_and_revoked(cat: Catalog) -> None:
    token_id, secret = cat.create_token("x", "reader")
    for wrong in ("", "r2d2_", secret[:-1], secret + "A", secret.upper(), "Bearer " + secret, "x" * 10_000):
        assert cat.verify_token(wrong) is None
    revoked = cat.revoke_token(token_id)
    assert revoked.revoked_at is not None and not revoked.active
    assert cat.verify_token(secret) is None
    assert cat.revoke_token(token_id).revoked_at == revoked.revoked_at  # idempotent
    assert [t.id for t in cat.list_tokens(include_revoked=False)] == []
    with pytest.raises(NotFoundError):
        cat.revoke_token(token_id + 100)


def test_last_used_is_touched_at_most_once_a_minute(cat: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    token_id, secret = cat.create_token("x", "admin")
    assert cat.get_token(token_id).last_used_at is None
    cat.verify_token(secret)
    first = cat.get_token(token_id).last_used_at
    assert first is not None
    cat.verify_token(secret)
    assert cat.get_token(token_id).last_used_at == first
    later = first + timedelta(seconds=61)
    monkeypatch.setattr(tokens_mod, "utcnow", lambda: later)
    cat.verify_token(secret)
    assert cat.get_token(token_id).last_used_at == later


@pytest.mark.parametrize(("name", "role"), [("", "reader"), ("  ", "reader"), ("x" * 129, "reader"),
                                            ("ok", "root"), ("ok", "Reader")])
def test_create_validates(cat: Catalog, name: str, role: str) -> None:
    with pytest.raises(ValueError, match=r"name|role"):
        cat.create_token(name, role)


def test_cli_token_commands(catalog_url: str) -> None:
    _register_subcommands()
    runner = CliRunner()
    base = ["--catalog", catalog_url]
    created = runner.invoke(cli, [*base, "token", "create", "dashboards", "--role", "reader"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    catalog = open_catalog(catalog_url)
    record = catalog.verify_token(secret)
    assert record is not None and record.role == "reader"
    listed = runner.invoke(cli, [*base, "token", "list"])
    assert listed.exit_code == 0 and "dashboards" in listed.output and secret not in listed.output
    assert runner.invoke(cli, [*base, "token", "list", "--format", "json"]).output.count('"reader"') == 1
    revoked = runner.invoke(cli, [*base, "token", "revoke", str(record.id)])
    assert revoked.exit_code == 0 and catalog.verify_token(secret) is None
    assert runner.invoke(cli, [*base, "token", "revoke", "9999"]).exit_code == 3
    bad = runner.invoke(cli, [*base, "token", "create", "x", "--role", "root"])
    assert bad.exit_code == 2
    assert runner.invoke(cli, ["serve", "--help"]).exit_code == 0
