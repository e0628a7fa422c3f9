"""Every `r2d2` command with ``--format json`` prints one JSON document (parsed here), on a real lake:
scan, detect, lookup, diff, plan, apply, reconstruct, restore, check, purge, recover, calibrate... in the order a user
runs them, each recording its run (``r2d2 runs``). ``serve`` prints no document (it serves), and
``demo`` is walked by tests/test_demo.py in its own process.

Also: text tables are never cut when piped, sizes are human in text and bytes in JSON, and an error
in JSON mode is a JSON document too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import lakes
from click.testing import CliRunner

from r2d2.cli.main import _register_subcommands, cli

NOT_WALKED = {"serve": "serves HTTP, prints no document", "demo": "walked by tests/test_demo.py"}


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out |= _commands(command, (*prefix, name))
        else:
            out.add((*prefix, name))
    return out


class Walker:
    def __init__(self, tmp_path: Path) -> None:
        self.base = ["--home", str(tmp_path / "home"), "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}"]
        self.walked: set[tuple[str, ...]] = set()

    def __call__(self, *args: str, code: int = 0) -> Any:
        words = tuple(a for a in args if not a.startswith("-") and "/" not in a)
        command = next(c for c in sorted(_commands(cli), key=len, reverse=True) if words[:len(c)] == c)
        self.walked.add(command)
        result = CliRunner().invoke(cli, [*self.base, *args, "--format", "json"])
        assert result.exit_code == code, (args, result.output)
        return json.loads(result.stdout)


def test_every_command_prints_json(tmp_path: Path, spark: Any) -> None:
    _register_subcommands()
    lake = tmp_path / "lake"
    rows = {"x": list(range(3000)), "y": [f"value {i:06d} " * 4 for i in range(3000)]}
    lakes.parquet(lake / "a", {**rows, "z": [i * 0.5 for i in range(3000)]})
    lakes.parquet(lake / "b", rows)  # a projection of a: deleting it saves its bytes
    lakes.parquet(lake / "c", rows)  # a copy of b
    a, b, c = (str(lake / n) for n in "abc")
    run = Walker(tmp_path)

    # calibrate times real rebuilds (~15 s; tests/test_plan_inputs.py fits a model): here, on an empty
    # catalog, it stops at once, and its error is a JSON document too.
    refused = run("calibrate", "--source", "catalog", code=3)["error"]
    assert refused["type"] == "PlanError" and "fewer than two usable tables" in refused["message"]
    scanned = run("scan", str(lake))
    assert scanned["found"] == 3 and scanned["bytes"] > 0 and isinstance(scanned["run_id"], int)
    tables = run("tables", "--table-format", "parquet")
    assert [t["location"] for t in tables] == [a, b, c] and all(isinstance(t["num_bytes"], int) for t in tables)
    assert run("show", a)["profile"]["columns"][0]["name"] == "x"
    detected = run("detect")
    assert set(detected) == {"edges", "stages", "errors"}
    assert {(e["parent"], e["child"]) for e in detected["edges"]} >= {(a, b), (a, c)}
    edges = run("edges")
    assert {(e["parent"], e["child"]) for e in edges} >= {(a, b), (a, c)}
    assert all(e["verified"] for e in edges) and run("edges", "--all", "--table", c)
    looked = run("lookup", b)  # tests/test_cli_lookup.py compares lookups with detect
    assert [m["location"] for m in looked["duplicates"]] == [c] and looked["parents"][0]["location"] == a
    differ = run("diff", a, b)
    assert (differ["missing"], differ["fraction"], differ["rows"]) == (0, 1.0, [])
    assert {e["child"] for e in run("edges", "--parent", a)} == {b, c} and run("edges", "--child", a) == []
    access = tmp_path / "access.csv"
    access.write_text(f"location,count,window_days\n{a},30,30\n")
    assert run("access", "import", str(access))["updated"] == [a]
    assert run("tag", c, "--latency-limit", "1h")["latency_limit_s"] == 3600
    planned = run("plan", "--access-default", "0", "--latency-limit", "inf")
    deleted = {d["location"] for d in planned["decisions"] if d["action"] == "delete"}
    assert deleted == {b, c} and planned["savings_bytes"] > 0
    assert run("plans")[0]["id"] == planned["id"] and run("plans", str(planned["id"]))["decisions"]
    assert run("apply", str(planned["id"]), "--dry-run")["dry_run"] is True
    applied = run("apply", str(planned["id"]), "--yes")
    assert {i["location"] for i in applied["items"] if i["action"] == "deleted"} == {b, c}
    rebuilt = run("reconstruct", c, "--to", str(tmp_path / "rebuilt"))
    assert rebuilt["rows"] == 3000 and Path(rebuilt["to"]).is_dir()
    assert run("restore", b)["how"] == "quarantine"
    assert run("check", "--no-restore")["checked"] == 1
    purged = run("purge", "--yes", "--older-than", "0s")
    assert purged["purged"] == [c] and purged["kept"] == []
    assert run("recover")["problems"] == []
    token = run("token", "create", "walker", "--role", "reader")
    assert token["token"].startswith("r2d2_") and token["role"] == "reader"
    assert [t["name"] for t in run("token", "list")] == ["walker"]
    assert run("token", "revoke", str(token["id"]))["revoked_at"]

    kinds = [r["kind"] for r in run("runs", "--limit", "100")]
    assert set(kinds) >= {"scan", "detect", "calibrate", "plan", "apply", "reconstruct", "restore", "check",
                          "purge", "recover", "lookup", "diff"}
    one = run("runs", str(applied["run_id"]))
    assert one["kind"] == "apply" and one["status"] == "succeeded" and one["summary"]["counts"]["deleted"] == 2

    assert run.walked | {(n,) for n in NOT_WALKED} == _commands(cli)


def test_errors_in_json_mode_are_json(tmp_path: Path) -> None:
    _register_subcommands()
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "h"), "--catalog", f"sqlite:///{tmp_path / 'c.db'}",
                                      "scan", str(tmp_path / "nope"), "--format", "json"])
    assert result.exit_code == 3
    error = json.loads(result.stdout)["error"]
    assert error == {"message": f"scan root {tmp_path / 'nope'}: no such file or folder", "type": "NotFoundError",
                     "exit_code": 3}


def test_text_tables_are_not_cut_when_piped(tmp_path: Path) -> None:
    _register_subcommands()
    deep = tmp_path / "lake" / ("a-rather-long-folder-name-" * 6) / "table_with_a_long_name"
    lakes.parquet(deep, {"x": list(range(5000))})
    base = ["--home", str(tmp_path / "h"), "--catalog", f"sqlite:///{tmp_path / 'c.db'}"]
    assert CliRunner().invoke(cli, [*base, "scan", str(tmp_path / "lake")]).exit_code == 0
    text = CliRunner().invoke(cli, [*base, "tables"], terminal_width=60).stdout
    row = text.splitlines()[1]
    assert len(str(deep)) > 150 and row.startswith(str(deep))  # whole location on one line
    assert " KB " in row or row.rstrip().endswith("KB") or " KB" in row  # human size in text
    listed = json.loads(CliRunner().invoke(cli, [*base, "tables", "--format", "json"]).stdout)
    assert isinstance(listed[0]["num_bytes"], int) and listed[0]["num_bytes"] > 1024  # bytes in JSON


def test_scan_retry_errors_profiles_a_failed_table_again(tmp_path: Path) -> None:
    """`r2d2 scan --retry-errors`: a table that failed for a passing reason, unchanged since, is profiled
    again (a plain scan leaves it an error)."""
    lake = tmp_path / "lake"
    lakes.parquet(lake / "fine", {"x": [1]})
    fixed = lakes.flaky(lake / "flaky", {"x": [1, 2]})
    run = Walker(tmp_path)
    assert run("scan", str(lake), code=1)["failed"] == 1
    fixed()
    assert run("scan", str(lake))["unchanged"] == 2
    assert [t["location"] for t in run("tables", "--status", "error")] == [str(lake / "flaky")]
    retried = run("scan", "--retry-errors", str(lake))
    assert (retried["changed"], retried["unchanged"], retried["failed"]) == (1, 1, 0)
    assert run("tables", "--status", "error") == []
