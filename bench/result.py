"""The result shape every benchmark baseline returns (Spark-free, so pyarrow-only baselines can use it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from r2d2.containment.report import EdgeOut

__all__ = ["BaselineResult", "edge_set", "exact_only"]


@dataclass
class BaselineResult:
    edges: list[EdgeOut]
    seconds: float = 0.0
    bytes_read: int = 0  # what the baseline counts as read (see each baseline's docstring)
    jobs: int = 0  # Spark actions started (each may run several Spark jobs/stages); 0 without Spark
    stats: dict = field(default_factory=dict)


def edge_set(edges: Iterable[EdgeOut]) -> set[tuple[str, str, str, bool]]:
    """Edges as comparable tuples ``(parent, child, relation, multiset)``."""
    return {(e.parent, e.child, e.relation, bool(e.multiset)) for e in edges}


def exact_only(edges: Iterable[EdgeOut]) -> list[EdgeOut]:
    """Exact containments and duplicates (not overlaps, not containments except generated keys): what
    the baselines find."""
    return [e for e in edges if e.relation != "overlaps" and not e.except_columns]
