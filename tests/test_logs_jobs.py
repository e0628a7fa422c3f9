"""JSON logging (r2d2/logs.py) and the batch jobs as CLI shims (jobs/_common.py)."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobs._common import _legacy, split_globals
from r2d2.cli.main import _register_subcommands, cli
from r2d2.logs import JsonFormatter, uvicorn_config


def test_json_formatter_writes_one_object_per_record() -> None:
    record = logging.LogRecord("r2d2.api", logging.WARNING, __file__, 1, "run %d failed", (7,), None)
    record.table = "/lake/t"  # an `extra` field
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    out = json.loads(JsonFormatter().format(record))
    assert out["level"] == "WARNING" and out["logger"] == "r2d2.api" and out["message"] == "run 7 failed"
    assert out["table"] == "/lake/t" and "ValueError: boom" in out["exception"] and out["time"].endswith("+00:00")
    config = uvicorn_config("json", "info")
    assert config["formatters"]["default"] == {"()": "r2d2.logs.JsonFormatter"}
    assert set(config["loggers"]) >= {"uvicorn.access", "uvicorn.error", "r2d2"}
    logging.config.dictConfig({**config, "loggers": {}})  # a valid logging configuration


def test_cli_log_file_in_json(tmp_path: Path) -> None:
    _register_subcommands()
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "h"), "--catalog", "bogus://x", "--log-format",
                                      "json", "tables"])
    assert result.exit_code == 3  # an unusable catalog URL: a known error, one line
    lake = tmp_path / "lake" / "t"
    lake.mkdir(parents=True)
    (lake / "part-0.parquet").write_bytes(b"not parquet")
    scanned = CliRunner().invoke(cli, ["--home", str(tmp_path / "h"), "--catalog", f"sqlite:///{tmp_path / 'c.db'}",
                                       "--log-format", "json", "scan", str(tmp_path / "lake")])
    assert scanned.exit_code == 1
    log = tmp_path / "h" / "logs" / "r2d2.log"
    if log.exists():  # warnings of the library, if any, are JSON lines
        for line in log.read_text().splitlines():
            assert json.loads(line)["level"]


@pytest.mark.parametrize(("argv", "globals_", "rest"), [
    (["--catalog", "pg://x", "/lake"], ["--catalog", "pg://x"], ["/lake"]),
    (["/lake", "--home=/h", "--format", "json"], ["--home=/h"], ["/lake", "--format", "json"]),
    (["--spark-master", "yarn", "--minhash-perm", "32"], ["--spark-master", "yarn"], ["--minhash-perm", "32"]),
])
def test_jobs_move_global_options_first(argv: list[str], globals_: list[str], rest: list[str]) -> None:
    assert split_globals(argv) == (globals_, rest)


def test_jobs_accept_the_earlier_spellings() -> None:
    assert _legacy("scan", ["/lake", "--json"]) == ["/lake", "--format", "json"]
    assert _legacy("apply", ["--plan", "12"]) == ["12", "--dry-run"]  # as before: a dry run without --execute
    assert _legacy("apply", ["--plan", "12", "--execute", "--json"]) == ["12", "--format", "json", "--yes"]
    assert _legacy("apply", ["12", "--yes"]) == ["12", "--yes"]
