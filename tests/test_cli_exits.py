"""Exit codes of `r2d2` and the batch jobs (r2d2/cli/exits.py): 0 ok, 1 finished with per-table failures,
2 usage, 3 stopped by a known error, 4 internal error (one line, traceback in the log), 75 lock busy.

Exit code 1 once also meant "crashed" (an unexpected exception's traceback), and docs/jobs.md told
Airflow to accept 1; a missing scan root was 1 as well; apply and purge asked nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lakes
from click.testing import CliRunner
from sqlalchemy import text

from r2d2.catalog import open_catalog
from r2d2.cli.main import _register_subcommands, cli
from r2d2.optimize.planning import PlanRequest, create_plan

REPO = Path(__file__).resolve().parent.parent


def invoke(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    _register_subcommands()
    return CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "--catalog",
                                    f"sqlite:///{tmp_path / 'c.sqlite'}", *args], env=env)


def test_ok_partial_and_missing_root(tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "lake" / "t", {"x": [1]})
    (tmp_path / "lake" / "bad").mkdir()
    assert invoke(tmp_path, "scan", str(tmp_path / "lake" / "t")).exit_code == 0
    (tmp_path / "lake" / "bad" / "part-0.parquet").write_bytes(b"not parquet")
    assert invoke(tmp_path, "scan", str(tmp_path / "lake")).exit_code == 1  # a table failed, listed
    missing = invoke(tmp_path, "scan", str(tmp_path / "nope"))
    assert missing.exit_code == 3, missing.output
    assert "no such file or folder" in missing.output


def test_internal_error_is_4_with_one_line_and_a_log(tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "lake" / "t", {"x": [1]})
    assert invoke(tmp_path, "scan", str(tmp_path / "lake")).exit_code == 0
    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite'}")
    with catalog._write() as conn:  # a catalog row no version of R2D2 wrote: a bug's symptom
        conn.execute(text("UPDATE table_profiles SET profile = '{\"unexpected\": 1}'"))
    out = invoke(tmp_path, "show", str(tmp_path / "lake" / "t"))
    assert out.exit_code == 4, out.output
    log = tmp_path / "home" / "logs" / "r2d2.log"
    assert "internal error" in out.output and str(log) in out.output.replace("\n", "")
    assert "Traceback" not in out.output
    assert "Traceback (most recent call last)" in log.read_text()


def test_invalid_setting_is_3(tmp_path: Path) -> None:
    out = invoke(tmp_path, "tables", env={"R2D2_SPARK_SHUFFLE_PARTITIONS": "many"})
    assert out.exit_code == 3, out.output
    assert "invalid settings: spark_shuffle_partitions" in out.output


def test_apply_and_purge_need_yes_off_a_terminal(tmp_path: Path) -> None:
    assert invoke(tmp_path, "tables").exit_code == 0  # a catalog, with no plan
    purge = invoke(tmp_path, "purge")
    assert purge.exit_code == 2 and "--yes" in purge.output
    assert invoke(tmp_path, "purge", "--yes").exit_code == 0
    lakes.parquet(tmp_path / "lake" / "t", {"x": [1]})
    assert invoke(tmp_path, "scan", str(tmp_path / "lake")).exit_code == 0
    plan_id = create_plan(open_catalog(f"sqlite:///{tmp_path / 'c.sqlite'}"), PlanRequest(solver="greedy"))
    apply = invoke(tmp_path, "apply", str(plan_id))
    assert apply.exit_code == 2 and "--yes" in apply.output
    assert invoke(tmp_path, "apply", str(plan_id), "--dry-run").exit_code == 0  # changes nothing: no question
    assert invoke(tmp_path, "apply", str(plan_id), "--yes").exit_code == 0


def test_jobs_use_the_same_codes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    missing = subprocess.run([sys.executable, str(REPO / "jobs" / "scan.py"), "--catalog", url,
                              "--home", str(tmp_path / "home"), str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=300, env=env)
    assert missing.returncode == 3, missing.stdout + missing.stderr
    assert "error: scan root" in missing.stderr


def test_a_finished_command_leaves_the_catalog_file_whole(tmp_path: Path) -> None:
    """The CLI skips the interpreter's last garbage collection (``_before_exit``) but closes the catalog
    first: SQLite then folds its write-ahead log into the file, so the file alone (a backup, a copy)
    holds what the command wrote."""
    lakes.parquet(tmp_path / "lake" / "t", {"x": [1, 2]})
    db = tmp_path / "c.sqlite"
    done = subprocess.run([sys.executable, "-m", "r2d2.cli.main", "--home", str(tmp_path / "home"), "--catalog",
                           f"sqlite:///{db}", "scan", str(tmp_path / "lake")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "c.sqlite-wal").exists()
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(db.read_bytes())
    catalog = open_catalog(f"sqlite:///{copy}")
    try:
        assert [p.location for _, p in catalog.active_profiles()] == [str(tmp_path / "lake" / "t")]
    finally:
        catalog.close()


def test_a_file_where_the_hash_set_folder_goes_is_a_known_error_naming_it(tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "lake" / "big", {"x": list(range(20)), "y": [str(i) for i in range(20)]})
    lakes.parquet(tmp_path / "lake" / "small", {"x": list(range(5)), "y": [str(i) for i in range(5)]})
    assert invoke(tmp_path, "scan", str(tmp_path / "lake")).exit_code == 0
    blocker = tmp_path / "home" / "work" / "hashsets"
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"left here by hand")
    out = invoke(tmp_path, "detect")
    assert out.exit_code == 3, out.output  # a known error, not a traceback (it was pyarrow's FileExistsError)
    assert f"{blocker} is a file" in out.output and "internal error" not in out.output
    assert blocker.read_bytes() == b"left here by hand"  # not touched
    blocker.unlink()
    again = invoke(tmp_path, "detect", "--format", "json")
    assert again.exit_code == 0, again.output
    edges = json.loads(again.stdout)["edges"]
    assert [(e["parent"], e["child"], e["stage"]) for e in edges] == [
        (str(tmp_path / "lake" / "big"), str(tmp_path / "lake" / "small"), "exact")]
