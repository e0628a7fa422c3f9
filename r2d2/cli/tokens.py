"""`r2d2` subcommands: API tokens (`token create / list / revoke`) and `serve` (the REST API)."""

from __future__ import annotations

import json

import click

from r2d2.cli.main import EXIT_OK, Context, run_guarded

ROLES = ("reader", "operator", "admin")


@click.group()
def token() -> None:
    """Manage bearer tokens of the REST API (stored hashed; shown once)."""


@token.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="reader < operator < admin.")
@click.pass_obj
def token_create(obj: Context, name: str, role: str) -> None:
    """Create a token called NAME and print it (it cannot be shown again)."""
    def body() -> int:
        try:
            token_id, plaintext = obj.catalog.create_token(name, role)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="NAME") from exc
        click.echo(f"token {token_id} ({name}, {role}); keep it now, it will not be shown again:", err=True)
        click.echo(plaintext)
        return EXIT_OK

    run_guarded(body)


@token.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def token_list(obj: Context, fmt: str) -> None:
    """List tokens (never their secrets)."""
    def body() -> int:
        rows = obj.catalog.list_tokens()
        if fmt == "json":
            click.echo(json.dumps([{"id": t.id, "name": t.name, "role": t.role,
                                    "created_at": t.created_at.isoformat(),
                                    "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                                    "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
                                   for t in rows], indent=2))
            return EXIT_OK
        for t in rows:
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            click.echo(f"{t.id:>5}  {t.name:<24} {t.role:<8} {state:<24} last used {used}")
        return EXIT_OK

    run_guarded(body)


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@click.pass_obj
def token_revoke(obj: Context, token_id: int) -> None:
    """Revoke the token with id ID (takes effect on the next request)."""
    def body() -> int:
        t = obj.catalog.revoke_token(token_id)
        click.echo(f"token {t.id} ({t.name}) revoked")
        return EXIT_OK

    run_guarded(body)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--lake-root", "lake_roots", multiple=True,
              help="A root the API may scan (repeatable; default R2D2_LAKE_ROOTS). Without one, no scans.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              default="info", show_default=True)
@click.pass_obj
def serve(obj: Context, host: str, port: int, lake_roots: tuple[str, ...], log_level: str) -> None:
    """Run the REST API (uvicorn, one process; runs execute in a background thread)."""
    import uvicorn

    from api.main import create_app
    from r2d2.config import load_settings

    def body() -> int:
        settings = load_settings(**obj.overrides, lake_roots=lake_roots or None)
        obj.catalog  # noqa: B018 — fail fast (exit 3) when the catalog cannot be opened
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        return EXIT_OK

    run_guarded(body)


COMMANDS: list[click.Command] = [token, serve]
