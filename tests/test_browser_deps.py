"""`make test` runs the browser tests as CI does: it installs their tools or fails saying what to install,
and a browser test whose tools are missing fails — it is never skipped (it once was, on every fresh
machine, while only .ci/run installed chromium and ui/node_modules).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _bin_without_tools(folder: Path) -> Path:
    """A PATH folder with the few commands the script needs, and no chromium, node, npm or apt-get."""
    folder.mkdir()
    for cmd in ("dirname", "id"):
        found = shutil.which(cmd)
        assert found is not None
        (folder / cmd).symlink_to(found)
    return folder


def test_make_test_prepares_the_browser_tools_first() -> None:
    dry = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "MAKEFLAGS": ""})
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    deps = next(i for i, line in enumerate(lines) if "tests/ui/deps.sh" in line)
    tests = next(i for i, line in enumerate(lines) if "pytest" in line)
    assert deps < tests


def test_missing_tools_without_a_way_to_install_them_fail_loudly(tmp_path: Path) -> None:
    path = _bin_without_tools(tmp_path / "bin")
    out = subprocess.run([shutil.which("bash") or "/bin/bash", str(REPO / "tests" / "ui" / "deps.sh")],
                         capture_output=True, text=True, timeout=60, env={"PATH": str(path)})
    assert out.returncode == 1
    assert "the browser tests need 'chromium'" in out.stderr and "apt-get install chromium" in out.stderr


def test_a_browser_test_without_its_tools_fails_instead_of_skipping(tmp_path: Path) -> None:
    path = _bin_without_tools(tmp_path / "bin")  # no node on PATH
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_ui.py::test_graph_of_2000_tables_renders"], cwd=REPO,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PATH": str(path)})
    assert out.returncode == 1, out.stdout + out.stderr
    assert "headless browser tests need node" in out.stdout
    assert "skipped" not in out.stdout.splitlines()[-1] and "1 error" in out.stdout.splitlines()[-1]
