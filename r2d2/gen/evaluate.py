"""Compare detected edges with a lake's truth: precision, recall and the differences, per kind.

Three kinds, scored apart (:func:`score_kinds`): ``exact`` containments and duplicates (:func:`score`,
matched on parent, child and relation, the multiset flag checked separately); ``overlaps``, matched on
parent, child *and* the exact fraction (a fraction that differs from the truth's is a false positive
and a false negative; overlaps have no multiset flag); ``excepts`` (``contains`` with
``except_columns``), matched on parent, child and the same column names, the multiset flag (counts
on the other columns) checked like the exact kind's.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from r2d2.containment.report import EdgeOut
from r2d2.gen.truth import ExpectedEdge, Truth

KINDS = ("exact", "overlaps", "excepts")


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

    @property
    def perfect(self) -> bool:
        return not self.false_positives and not self.false_negatives and not self.wrong_flags


@dataclass(frozen=True)
class KindScores:
    """One :class:`Score` per kind of edge (module docstring)."""

    exact: Score
    overlaps: Score
    excepts: Score

    @property
    def perfect(self) -> bool:
        return self.exact.perfect and self.overlaps.perfect and self.excepts.perfect


def as_truth(edges: Iterable[EdgeOut]) -> Truth:
    """Detected edges as a truth: exact containments in ``edges`` (as always), overlaps (with their
    fraction) in ``overlaps``, containments except some columns in ``excepts``."""
    exact, overlaps, excepts = set(), set(), set()
    for e in edges:
        if e.relation == "overlaps":
            overlaps.add(ExpectedEdge(e.parent, e.child, "overlaps", False, fraction=e.fraction))
        elif e.except_columns:
            excepts.add(ExpectedEdge(e.parent, e.child, e.relation, bool(e.multiset),
                                     except_columns=tuple(e.except_columns)))
        else:
            exact.add(ExpectedEdge(e.parent, e.child, e.relation, bool(e.multiset)))
    return Truth(frozenset(exact), frozenset(overlaps), frozenset(excepts))


def score(detected: Truth, truth: Truth) -> Score:
    """The exact kind: pairs are matched on (parent, child, relation); the multiset flag is checked
    separately (a pair with another flag is a true positive listed in ``wrong_flags``)."""
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


def _matched(detected: Iterable[ExpectedEdge], truth: Iterable[ExpectedEdge],
             key: Callable[[ExpectedEdge], Hashable], *, multiset: bool) -> Score:
    want = {key(e): e for e in truth}
    got = {key(e): e for e in detected}
    both = want.keys() & got.keys()
    return Score(true_positives=len(both),
                 false_positives=sorted(got[k] for k in got.keys() - want.keys()),
                 false_negatives=sorted(want[k] for k in want.keys() - got.keys()),
                 wrong_flags=sorted((want[k], got[k]) for k in both
                                    if multiset and want[k].multiset != got[k].multiset))


def score_kinds(detected: Truth, truth: Truth) -> KindScores:
    """Precision and recall of each kind (module docstring); ``exact`` is :func:`score`."""
    return KindScores(
        exact=score(detected, truth),
        overlaps=_matched(detected.overlaps, truth.overlaps, lambda e: (e.parent, e.child, e.fraction),
                          multiset=False),
        excepts=_matched(detected.excepts, truth.excepts, lambda e: (e.parent, e.child, e.except_columns),
                         multiset=True),
    )
