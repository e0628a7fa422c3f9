"""`r2d2 lookup` and `r2d2 diff` on a small real lake (tests/lakes.py ``beyond``: a parent, its duplicate,
a child, a near-miss overlap and a child with a renumbered key), their JSON compared with what
`r2d2 detect` reports. Small tables: neither command needs Spark, nor does the detect here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import lakes
import pytest
from click.testing import CliRunner

from r2d2.cli.main import _register_subcommands, cli


class R2D2:
    def __init__(self, tmp: Path) -> None:
        _register_subcommands()
        self.base = ["--home", str(tmp / "home"), "--catalog", f"sqlite:///{tmp / 'c.sqlite'}"]

    def __call__(self, *args: str, code: int = 0, fmt: str = "json") -> Any:
        result = CliRunner().invoke(cli, [*self.base, *args, "--format", fmt])
        assert result.exit_code == code, (args, result.output)
        return json.loads(result.stdout) if fmt == "json" else result.stdout


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[R2D2, dict[str, str], dict[str, Any]]:
    """The lake scanned and detected from the CLI (module-scoped: detect is the slow part)."""
    tmp = tmp_path_factory.mktemp("cli-lookup")
    tables = lakes.beyond(tmp / "lake")
    run = R2D2(tmp)
    assert run("scan", str(tmp / "lake"))["found"] == 5
    return run, tables, run("detect")


def _matches(answer: dict[str, Any]) -> set[tuple[str, str, str, bool | None, float | None, tuple[str, ...]]]:
    return {(m["location"], m["role"], m["relation"], m["multiset"], m["fraction"], tuple(m["except_columns"]))
            for key in ("duplicates", "parents", "children") for m in answer[key]}


def _from_detect(detected: dict[str, Any], location: str) -> set[tuple]:
    """What detect reports for ``location`` (every relation), in the shape of a lookup's matches."""
    out = set()
    for e in detected["edges"]:
        if location not in (e["parent"], e["child"]):
            continue
        other = e["child"] if e["parent"] == location else e["parent"]
        role = "duplicate" if e["relation"] == "duplicate" else ("child" if e["parent"] == location else "parent")
        out.add((other, role, e["relation"], e["multiset"], e.get("fraction"), tuple(e.get("except_columns", ()))))
    return out


def test_detect_reports_every_relation_of_the_lake(lake) -> None:
    _, t, detected = lake
    edges = {(e["parent"], e["child"]): e for e in detected["edges"]}
    assert edges[(t["base"], t["dup"])]["relation"] == "duplicate"
    assert edges[(t["base"], t["child"])]["relation"] == "contains"
    assert edges[(t["base"], t["near"])]["relation"] == "overlaps"
    assert edges[(t["base"], t["near"])]["fraction"] == pytest.approx(100 / 101)
    assert edges[(t["base"], t["renum"])]["except_columns"] == ["rownames"]


def test_lookup_of_a_catalogued_table_equals_detect(lake) -> None:
    run, t, detected = lake
    for name in ("base", "dup", "child", "near", "renum"):
        answer = run("lookup", t[name])
        assert answer["location"] == t[name] and isinstance(answer["table_id"], int) and not answer["registered"]
        assert _matches(answer) == _from_detect(detected, t[name]), name
        assert answer["errors"] == [] and [s["name"] for s in answer["stages"]][:2] == ["schema", "minmax"]
    base = run("lookup", t["base"])
    assert [m["location"] for m in base["duplicates"]] == [t["dup"]] and base["parents"] == []
    assert base["children"] == [
        {"location": t["child"], "role": "child", "relation": "contains", "multiset": True, "fraction": None,
         "except_columns": []},
        {"location": t["near"], "role": "child", "relation": "overlaps", "multiset": None,
         "fraction": pytest.approx(100 / 101), "except_columns": []},
        {"location": t["renum"], "role": "child", "relation": "contains", "multiset": True, "fraction": None,
         "except_columns": ["rownames"]}]
    shown = run("lookup", t["base"], fmt="text").splitlines()
    assert shown[0].startswith(f"{t['base']}: catalogued as table {base['table_id']}")
    rows = {line.split()[2]: line.split() for line in shown[2:5]}  # role, sign, table, ...
    assert rows[t["child"]][:2] == ["child", "⊇"] and rows[t["child"]][3] == "yes"
    assert rows[t["near"]][:2] == ["child", "≈"] and rows[t["near"]][3:] == ["99.01%", "of", "rows"]
    assert rows[t["renum"]][:2] == ["child", "⊇"] and rows[t["renum"]][3:] == ["yes", "except", "rownames"]
    assert shown[1].split() == ["role", "table", "multiset", "note"] and shown[5].startswith("duplicate  ==")
    assert shown[6].startswith("stages: schema")


def test_lookup_of_a_new_table_registers_only_when_asked(lake, tmp_path: Path) -> None:
    run, t, _ = lake
    copy = tmp_path / "incoming" / "child_copy"
    shutil.copytree(t["child"], copy)
    before = len(run("tables"))
    answer = run("lookup", str(copy))
    assert answer["table_id"] is None and not answer["registered"]
    assert {(m["location"], m["role"]) for m in answer["duplicates"] + answer["parents"] + answer["children"]} == {
        (t["child"], "duplicate"), (t["base"], "parent"), (t["dup"], "parent"), (t["near"], "parent")}
    assert len(run("tables")) == before  # nothing registered
    registered = run("lookup", str(copy), "--register")
    assert registered["registered"] and registered["table_id"] == run("show", str(copy))["id"]
    assert _matches(registered) == _matches(answer)
    assert len(run("tables")) == before + 1
    recorded = run("runs", str(registered["run_id"]))
    assert (recorded["kind"], recorded["status"]) == ("lookup", "succeeded")
    assert recorded["params"] == {"location": str(copy), "register": True}
    assert recorded["summary"]["duplicates"] == registered["duplicates"]


def test_a_new_table_finds_overlaps_and_key_exceptions_both_ways(lake, tmp_path: Path) -> None:
    """Unregistered copies: as a child without its key (renum), as the parent of a keyed child and of
    an overlap (base), as an overlap (near): what detect reports for the original, plus the original."""
    run, t, detected = lake
    before = len(run("tables"))
    for name in ("base", "renum", "near"):
        copy = tmp_path / "incoming" / name
        shutil.copytree(t[name], copy)
        answer = run("lookup", str(copy))
        assert answer["table_id"] is None and answer["errors"] == []
        in_lake = {m for m in _matches(answer) if m[0] in t.values()}  # not a copy another test registered
        assert in_lake == _from_detect(detected, t[name]) | {(t[name], "duplicate", "duplicate", True, None, ())}
        assert "except" in [s["name"] for s in answer["stages"]]
    assert len(run("tables")) == before


def test_diff_counts_equal_detects_fraction_and_show_the_missing_row(lake) -> None:
    run, t, detected = lake
    overlap = next(e for e in detected["edges"] if (e["parent"], e["child"]) == (t["base"], t["near"]))
    out = run("diff", t["base"], t["near"])
    assert (out["distinct_rows"], out["missing"]) == (101, 1)
    assert out["fraction"] == pytest.approx(overlap["fraction"])
    assert out["columns"] == ["id", "city", "amount"] and out["rows"] == [{"id": 30, "city": "c1", "amount": 7.77}]
    counts_only = run("diff", t["base"], t["near"], "--limit", "0")
    assert counts_only["missing"] == 1 and counts_only["rows"] == []
    contained = run("diff", t["base"], t["child"])
    assert (contained["missing"], contained["fraction"], contained["rows"]) == (0, 1.0, [])
    text = run("diff", t["base"], t["near"], fmt="text")
    assert "100 of 101 distinct rows (99.01%); 1 missing" in text and "7.77" in text
    recorded = run("runs", str(out["run_id"]))
    assert recorded["kind"] == "diff" and recorded["summary"]["missing"] == 1 and "rows" not in recorded["summary"]


def test_errors_exit_3_with_a_json_document(lake, tmp_path: Path) -> None:
    run, t, _ = lake
    missing = run("lookup", str(tmp_path / "nothing"), code=3)["error"]
    assert "no such file" in missing["message"] and missing["exit_code"] == 3
    unfit = run("diff", t["child"], t["base"], code=3)["error"]  # base has a column child lacks
    assert "not every column" in unfit["message"]
    failed = run("runs", "--kind", "lookup", "--status", "failed")
    assert failed and failed[0]["errors"][0]["error"] == missing["message"]
