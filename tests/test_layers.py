"""Dependencies point down (DESIGN.md, Layout): the optimizer and the catalog never import Spark or the
containment stages, and the CLI's catalog-only commands run without importing Spark.

Checked twice: statically (every ``import`` statement of the packages, those inside functions too)
and at run time (a fresh interpreter imports the packages, or runs the commands, and lists what got
loaded).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import lakes
import pytest

from r2d2.cli.exits import EXIT_ERROR

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = ("pyspark", "r2d2.containment", "r2d2.engine")
LOWER_LAYERS = ("r2d2/optimize", "r2d2/catalog")
ALGORITHMS = ("r2d2.containment", "r2d2.optimize", "r2d2.reconstruct")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _bad(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN))


@pytest.mark.parametrize("package", LOWER_LAYERS)
def test_lower_layers_import_no_spark_and_no_algorithm(package: str) -> None:
    offenders = {str(p.relative_to(REPO)): _bad(_imports(p)) for p in sorted((REPO / package).rglob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_optimizer_problem_and_solvers_do_no_io() -> None:
    """The problem is built and solved without the catalog (r2d2/optimize/stored.py reads and stores)."""
    pure = ("build", "model", "plan", "milp", "greedy", "synthetic")
    io = ("r2d2.catalog", "sqlalchemy", "r2d2.lake", "r2d2.config")
    names = {m: _imports(REPO / "r2d2" / "optimize" / f"{m}.py") for m in pure}
    assert {m: sorted(n for n in found if any(n == f or n.startswith(f + ".") for f in io))
            for m, found in names.items()} == {m: [] for m in pure}


def test_the_engine_knows_no_algorithm() -> None:
    """Spark sessions, work items and warm-ups: callers name what their workers load (settings, arguments)."""
    names = set().union(*(_imports(p) for p in sorted((REPO / "r2d2" / "engine").rglob("*.py"))))
    assert sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in ALGORITHMS)) == []
    text = "".join(p.read_text() for p in (REPO / "r2d2" / "engine").rglob("*.py"))
    assert not any(f'"{a}' in text for a in ALGORITHMS)  # nor by a module name in a string


def test_the_optimizer_and_catalog_load_without_spark() -> None:
    code = ("import sys, json; import r2d2.optimize, r2d2.optimize.stored, r2d2.optimize.planning, "
            "r2d2.optimize.access, r2d2.catalog, r2d2.catalog.locks, r2d2.runs; "
            "print(json.dumps(sorted(m for m in sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       cwd=REPO).stdout)
    assert _bad(set(loaded)) == []


def test_catalog_only_commands_never_import_spark(tmp_path: Path) -> None:
    """`r2d2 tables / show / edges / runs / plans / token list` read the catalog: no Spark, no stages."""
    lakes.parquet(tmp_path / "lake" / "t", {"x": [1, 2]})
    base = ["--home", str(tmp_path / "h"), "--catalog", f"sqlite:///{tmp_path / 'c.db'}"]
    script = f"""
import json, sys
from r2d2.cli.main import main
base = {base!r}
out = {{}}
for args in (["tables"], ["show", {str(tmp_path / "lake" / "t")!r}], ["edges", "--all"], ["runs"],
             ["plans"], ["token", "list"]):
    try:
        main([*base, *args, "--format", "json"])
    except SystemExit as exit:
        out[args[0]] = exit.code
print("LOADED", json.dumps({{"codes": out, "modules": sorted(sys.modules)}}))
"""
    from r2d2.catalog import open_catalog
    from r2d2.scan import scan

    # The catalog to read is filled in this process; only the reading commands need a fresh interpreter.
    assert scan(open_catalog(f"sqlite:///{tmp_path / 'c.db'}"), [str(tmp_path / "lake")],
                spark_factory=lambda: None).failed == 0
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    report = json.loads(done.stdout.split("LOADED ", 1)[1])
    assert set(report["codes"].values()) == {0}, done.stderr
    assert _bad(set(report["modules"])) == []


def test_deletion_commands_load_spark_scipy_and_pandas_only_when_they_use_them(tmp_path: Path) -> None:
    """`r2d2 recover / check / purge / apply / restore` are run by hand after an incident and by the crash
    tests dozens of times: with nothing to rebuild they import no Spark, no solver and no pandas (together
    about 0.9 s of each start)."""
    base = ["--home", str(tmp_path / "h"), "--catalog", f"sqlite:///{tmp_path / 'c.db'}"]
    script = f"""
import json, sys
from r2d2.cli.main import main
base = {base!r}
out = {{}}
for args in (["recover"], ["check"], ["purge", "--older-than", "0s", "--yes"], ["apply", "999", "--yes"],
             ["restore", "/nowhere/t"]):
    try:
        main([*base, *args, "--format", "json"])
    except SystemExit as exit:
        out[args[0]] = exit.code
print("LOADED", json.dumps({{"codes": out, "modules": sorted(sys.modules)}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    report = json.loads(done.stdout.split("LOADED ", 1)[1])
    codes = report["codes"]
    assert [codes[c] for c in ("recover", "check", "purge")] == [0, 0, 0], done.stderr
    # no such plan, no such deletion: refused as the user's error (3), not crashed (4)
    assert (codes["apply"], codes["restore"]) == (EXIT_ERROR, EXIT_ERROR), done.stderr
    heavy = ("pyspark", "scipy", "pandas", "numba")
    assert sorted(m for m in report["modules"] if m.split(".")[0] in heavy) == []
