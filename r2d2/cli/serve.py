"""`r2d2 serve`: the REST API (FastAPI on uvicorn).

One process by default (its background run worker runs one job at a time). ``--workers N`` starts N
uvicorn worker processes on the port, for read throughput (``bench/results/api.md``), each with its own
listening socket on Linux so that connections spread evenly (:mod:`r2d2.cli.reuseport`); each has
its own run worker, and the catalog's locks keep detect and the destructive operations one at a time
across all of them. The workers get their settings through ``R2D2_*`` environment variables (the
options given here are passed on that way).
"""

from __future__ import annotations

import json
import os

import click

from r2d2.cli.main import EXIT_OK, Context, run_guarded


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--lake-root", "lake_roots", multiple=True,
              help="A root the API may scan (repeatable; default R2D2_LAKE_ROOTS). Without one, no scans.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="uvicorn worker processes (more serve more reads on more cores).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              default="info", show_default=True)
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log every request.")
@click.pass_obj
def serve(obj: Context, host: str, port: int, lake_roots: tuple[str, ...], workers: int, log_level: str,
          access_log: bool) -> None:
    """Run the REST API (uvicorn; runs execute in a background thread of each worker).

    Logs go to stderr, as text or JSON lines (the global --log-format). /health, /ready and /metrics
    need no token.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from r2d2.cli import reuseport
    from r2d2.config import load_settings
    from r2d2.errors import ConfigError
    from r2d2.logs import uvicorn_config

    def body() -> int:
        settings = load_settings(**obj.overrides, lake_roots=lake_roots or None)
        obj.catalog  # noqa: B018 — fail fast (exit 3) when the catalog cannot be opened
        log_config = uvicorn_config("json" if obj.log_format == "json" else "text", log_level)
        common = {"host": host, "port": port, "log_level": log_level, "log_config": log_config,
                  "access_log": access_log}
        if workers == 1:
            from api.main import create_app

            uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
            return EXIT_OK
        os.environ.update({"R2D2_HOME": str(settings.home), "R2D2_CATALOG_URL": settings.resolved_catalog_url,
                           "R2D2_LAKE_ROOTS": json.dumps(list(settings.lake_roots))})
        if settings.spark_master:
            os.environ["R2D2_SPARK_MASTER"] = settings.spark_master
        if not reuseport.supported():
            uvicorn.run("api.main:app_from_env", factory=True, workers=workers, **common)  # type: ignore[arg-type]
            return EXIT_OK
        config = uvicorn.Config("api.main:app_from_env", factory=True, workers=workers, **common)  # type: ignore[arg-type]
        try:
            reserved = reuseport.reserve(host, port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        with reserved:
            supervisor = Multiprocess(config, sockets=[reserved])
            supervisor.run()
        if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
            raise ConfigError(f"a worker could not start on {host}:{port} (the reason is in the log above)")
        return EXIT_OK

    run_guarded(body)


COMMANDS: list[click.Command] = [serve]
