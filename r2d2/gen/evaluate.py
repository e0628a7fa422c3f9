"""Compare detected edges with a lake's truth: precision, recall and the differences."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from r2d2.containment.report import EdgeOut
from r2d2.gen.truth import ExpectedEdge, Truth


@dataclass(frozen=True)
class Score:
    true_positives: int
    false_positives: list[ExpectedEdge]
    false_negatives: list[ExpectedEdge]
    wrong_flags: list[tuple[ExpectedEdge, ExpectedEdge]]  # (expected, detected) same pair, other flags

    @property
    def precision(self) -> float:
        found = self.true_positives + len(self.false_positives)
        return 1.0 if found == 0 else self.true_positives / found

    @property
    def recall(self) -> float:
        expected = self.true_positives + len(self.false_negatives)
        return 1.0 if expected == 0 else self.true_positives / expected


def as_truth(edges: Iterable[EdgeOut]) -> Truth:
    """The exact containments among ``edges`` (not overlaps, not containments except some columns)."""
    return Truth(frozenset(ExpectedEdge(e.parent, e.child, e.relation, bool(e.multiset)) for e in edges
                           if e.relation != "overlaps" and not e.except_columns))


def score(detected: Truth, truth: Truth) -> Score:
    """Pairs are matched on (parent, child, relation); the multiset flag is checked separately."""
    def key(e: ExpectedEdge) -> tuple[str, str, str]:
        return e.parent, e.child, e.relation

    want = {key(e): e for e in truth.edges}
    got = {key(e): e for e in detected.edges}
    wrong = [(want[k], got[k]) for k in want.keys() & got.keys() if want[k].multiset != got[k].multiset]
    return Score(
        true_positives=len(want.keys() & got.keys()),
        false_positives=sorted(got[k] for k in got.keys() - want.keys()),
        false_negatives=sorted(want[k] for k in want.keys() - got.keys()),
        wrong_flags=sorted(wrong),
    )
