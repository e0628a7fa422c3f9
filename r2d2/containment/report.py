"""Result types of a detect run and their JSON and text renderings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from r2d2.vocabulary import EdgeRelation as Relation


@dataclass
class StageReport:
    name: str
    candidates_in: int = 0
    candidates_out: int = 0
    seconds: float = 0.0
    bytes_read: int = 0  # bytes of lake tables read
    hashset_bytes: int = 0  # bytes of R2D2's own hash sets read (work folder), not counted above
    reused: int = 0  # candidates decided at this stage by an earlier run (unchanged fingerprints)
    reexamined: int = 0  # candidates this run examined afresh at this stage
    jobs: int = 0  # Spark jobs run by this stage
    inferred: int = 0  # pairs passed by transitive inference instead of a scan
    tables: int = 0  # tables this stage looked at (minhash: those in a candidate pair after min-max)
    tables_read: int = 0  # of them, tables whose data this run read (the others came from the cache)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class EdgeOut:
    parent: str
    child: str
    relation: Relation
    verified: bool
    multiset: bool | None
    stage: str
    inferred: bool = False
    fraction: float | None = None  # overlaps: share of the child's distinct rows found in the parent
    except_columns: tuple[str, ...] = ()  # contains on every child column but these (generated keys)

    def to_json(self) -> dict[str, Any]:
        """The edge's fields; ``fraction`` and ``except_columns`` only where they apply."""
        out = asdict(self)
        if self.fraction is None:
            del out["fraction"]
        if not self.except_columns:
            del out["except_columns"]
        else:
            out["except_columns"] = list(self.except_columns)
        return out


@dataclass
class DetectResult:
    edges: list[EdgeOut] = field(default_factory=list)
    stages: list[StageReport] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    run_id: int | None = None
    pairs_reexamined: int = 0
    pairs_reused: int = 0
    lake_bytes: int = 0

    def stage(self, name: str) -> StageReport:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The documented shape: exactly ``edges``, ``stages`` and ``errors`` at the top level."""
        return {
            "edges": [e.to_json() for e in self.edges],
            "stages": [s.to_json() for s in self.stages],
            "errors": list(self.errors),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "stages": [s.to_json() for s in self.stages],
            "edges": len(self.edges),
            "errors": len(self.errors),
            "pairs_reexamined": self.pairs_reexamined,
            "pairs_reused": self.pairs_reused,
            "lake_bytes": self.lake_bytes,
        }


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def funnel_lines(result: DetectResult) -> list[str]:
    lines = [f"{'stage':<8} {'in':>9} {'out':>9} {'reused':>7} {'seconds':>8} {'bytes read':>11}"]
    for s in result.stages:
        lines.append(f"{s.name:<8} {s.candidates_in:>9} {s.candidates_out:>9} {s.reused:>7} "
                     f"{s.seconds:>8.2f} {human_bytes(s.bytes_read):>11}")
    total = sum(s.bytes_read for s in result.stages)
    if result.lake_bytes:
        lines.append(f"bytes read / lake bytes: {total / result.lake_bytes:.3f}")
    lines.append(f"pairs re-examined: {result.pairs_reexamined}, reused from earlier runs: {result.pairs_reused}")
    return lines
