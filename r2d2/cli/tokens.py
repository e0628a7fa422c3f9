"""`r2d2 token create / list / revoke`: bearer tokens of the REST API (catalog only)."""

from __future__ import annotations

import click

from r2d2.cli.main import EXIT_OK, Context, run_guarded
from r2d2.cli.render import FORMAT, Format, emit, table, when
from r2d2.views import Token, as_json
from r2d2.vocabulary import TOKEN_ROLES


@click.group()
def token() -> None:
    """Manage bearer tokens of the REST API (stored hashed; shown once)."""


@token.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(TOKEN_ROLES), required=True, help="reader < operator < admin.")
@FORMAT
@click.pass_obj
def token_create(obj: Context, name: str, role: str, fmt: Format) -> None:
    """Create a token called NAME and print it (it cannot be shown again)."""
    def body() -> int:
        try:
            token_id, plaintext = obj.catalog.create_token(name, role)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="NAME") from exc

        def text() -> None:
            click.echo(f"token {token_id} ({name}, {role}); keep it now, it will not be shown again:", err=True)
            click.echo(plaintext)

        emit(fmt, {**as_json(Token, obj.catalog.get_token(token_id)), "token": plaintext}, text)
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@token.command("list")
@FORMAT
@click.pass_obj
def token_list(obj: Context, fmt: Format) -> None:
    """List tokens (never their secrets)."""
    def body() -> int:
        rows = obj.catalog.list_tokens()
        emit(fmt, [as_json(Token, t) for t in rows], lambda: table(
            ["id", "name", "role", "state", "last used"],
            [[t.id, t.name, t.role, f"revoked {when(t.revoked_at)}" if t.revoked_at else "active",
              when(t.last_used_at) or "never"] for t in rows], right=("id",), wrap=("name",)))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@FORMAT
@click.pass_obj
def token_revoke(obj: Context, token_id: int, fmt: Format) -> None:
    """Revoke the token with id ID (servers stop accepting it within 2 seconds)."""
    def body() -> int:
        t = obj.catalog.revoke_token(token_id)
        emit(fmt, as_json(Token, t), lambda: click.echo(f"token {t.id} ({t.name}) revoked"))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


COMMANDS: list[click.Command] = [token]
