"""`r2d2 demo` works only in its own folder: never the user's home, never the user's catalog.

The demo once removed ``R2D2_HOME`` (quarantine, journals and recipes: deleted tables could then be
neither restored nor rebuilt) and ran in the user's catalog (detect over the real tables, and a plan
deleting every unread one, one ``r2d2 apply`` away).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lakes
import pytest
from click.testing import CliRunner

from r2d2.catalog import open_catalog
from r2d2.cli.main import _register_subcommands, cli
from r2d2.demo import MARKER, DemoPlace
from r2d2.errors import ConfigError
from r2d2.scan import scan


def _run(args: list[str], env: dict[str, str]):
    _register_subcommands()
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def _no_spark():
    raise AssertionError("a Parquet scan needs no Spark")


@pytest.mark.slow
def test_demo_leaves_the_users_home_and_catalog_alone(tmp_path: Path) -> None:
    """The real command, as in the issue: R2D2_HOME and R2D2_CATALOG_URL set (own process and Spark
    session, so that its Python workers do not linger in the test session's pool)."""
    home = tmp_path / "h"
    (home / "quarantine" / "x").mkdir(parents=True)
    (home / "sentinel.txt").write_text("important")
    user_url = f"sqlite:///{tmp_path / 'c.db'}"
    user = open_catalog(user_url)
    lake = tmp_path / "real-lake"
    lakes.parquet(lake / "a", {"x": [1, 2, 3]})
    lakes.parquet(lake / "b", {"x": [1, 2]})  # a real child of a: the demo must not plan it away
    scan(user, [str(lake)], spark_factory=_no_spark)
    runs_before = [r.id for r in user.list_runs()]

    env = {**os.environ, "R2D2_HOME": str(home), "R2D2_CATALOG_URL": user_url,
           "R2D2_SPARK_MASTER": "local[2]", "R2D2_SPARK_DRIVER_MEMORY": "1g"}
    out = subprocess.run([sys.executable, "-m", "r2d2.cli.main", "demo", str(tmp_path / "d"), "--format", "json"],
                         env=env, capture_output=True, text=True, timeout=600)

    assert out.returncode == 0, out.stdout + out.stderr
    scores = json.loads(out.stdout)  # --format json: the scores on stdout, the report on stderr
    assert scores["ok"] is True and scores["precision"] == scores["recall"] == 1.0 and scores["tables"] == 52
    for kind in ("overlaps", "excepts"):  # the planted overlaps and key exceptions, each found exactly
        assert scores[kind]["truth"] > 0 and scores[kind]["precision"] == scores[kind]["recall"] == 1.0
    assert (home / "sentinel.txt").read_text() == "important" and (home / "quarantine" / "x").is_dir()
    assert sorted(p.name for p in home.rglob("*")) == ["quarantine", "sentinel.txt", "x"]
    assert "ignoring --home/R2D2_HOME and --catalog/R2D2_CATALOG_URL" in out.stderr.replace("\n", " ")
    assert "precision 1.000, recall 1.000" in out.stderr
    assert [t.location for t in user.list_tables()] == [str(lake / "a"), str(lake / "b")]
    assert user.list_plans() == [] and [r.id for r in user.list_runs()] == runs_before
    own = open_catalog(DemoPlace(tmp_path / "d").catalog_url)
    assert len(own.list_tables(status="active")) == 52 and len(own.list_plans()) == 1
    assert (tmp_path / "d" / MARKER).is_file()


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    out = _run(["--home", str(tmp_path / "h"), "demo", str(target)], env={})
    assert out.exit_code == 3, out.output
    assert "not empty and was not made by `r2d2 demo`" in out.output
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "h").exists()


def test_a_new_run_removes_only_what_the_demo_made(tmp_path: Path) -> None:
    place = DemoPlace(tmp_path / "d")
    place.prepare()  # a new folder: made, marked
    assert json.loads(place.marker.read_text())["owns"] == ["lake", ".r2d2"]
    lakes.parquet(place.lake / "t", {"x": [1]})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "sentinel.txt").write_text("important")
    place.home.symlink_to(elsewhere, target_is_directory=True)  # not something the demo would make
    (place.directory / "mine.txt").write_text("the user's")
    place.prepare()
    assert sorted(p.name for p in place.directory.iterdir()) == [MARKER, "mine.txt"]
    assert (elsewhere / "sentinel.txt").read_text() == "important"  # the link went, not its target


def test_the_demo_runs_only_in_its_own_place(tmp_path: Path) -> None:
    from r2d2.config import load_settings
    from r2d2.demo import run_demo

    place = DemoPlace(tmp_path / "d")
    wrong = load_settings(home=tmp_path / "h", catalog_url=f"sqlite:///{tmp_path / 'c.db'}")
    with pytest.raises(ConfigError, match="its own home"):
        run_demo(place, wrong, seed=1, echo=print)
    assert not place.directory.exists()
