"""Stage 2: min-max / null-count pruning, from metadata only.

Every rule is one-sided: it prunes P → C only when the statistics *prove* that some row of C,
projected on the candidate's columns, is absent from P. Under the statistics contract of
:mod:`r2d2.types` (a ``min``/``max`` is ``None`` or a valid bound; ``*_exact`` means the value is
attained by a row; a known ``null_count`` and ``num_rows`` are exact), write V(T.c) for the set of
values of column c in table T. A true edge P ⊇ C implies V(C.c) ⊆ V(P.c'') for each mapped column
(set semantics), where the values include null and NaN. Proof of each rule, by contradiction
with V(C.c) ⊆ V(P.c''):

``parent_empty``
    P has 0 rows. A true edge needs C to have ≥ 1 row (tables with no rows take part in no edge), and
    that row cannot be in an empty P.
``child_empty``
    C has 0 rows: by definition it takes part in no edge.
``nulls``
    C's null count is known and > 0, so null ∈ V(C.c); P's null count is known to be 0, so
    null ∉ V(P.c'').
``parent_all_null``
    P's column is known to be all null (null count = rows > 0) so V(P.c'') = {null}; C provably has a
    non-null value (an exact bound, which is attained, or a known null count below a known row count).
``min_below``
    C's min is exact, so it is a value v ∈ V(C.c), non-null and not NaN. P's min m is a valid lower
    bound of P's non-null, non-NaN values, so v ∈ V(P.c'') would give m ≤ v. We prune only if v < m.
``max_above``
    Symmetric, with C's exact max above a valid upper bound of P.

Inexact statistics of C (a truncated string prefix, a rounded-up max) are bounds, not values: they
are never used on the child's side, while P's bounds are used whether exact or not, since a valid
bound is all the proof needs. Row counts are never compared (a child may repeat rows, so it can have
more rows than its parent). A child column that is all null has no bounds to use; an absent bound,
a NaN bound or a value that cannot be compared (corrupt statistics, a type mismatch) means
"unknown" and never prunes. Families whose order is not consistent across writers
(``Family.comparable`` is false: BOOLEAN, UNSUPPORTED) are skipped for bounds. Values are compared
through :func:`r2d2.types.stat_order_key` (UTF-8 byte order for strings, numeric order for
decimals, etc.); -0.0 and 0.0 compare equal, as the containment semantics require.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from r2d2.containment.candidates import Candidate
from r2d2.types import ColumnStats, Family, TableProfile, stat_order_key

__all__ = [
    "CHILD_EMPTY",
    "MAX_ABOVE",
    "MIN_BELOW",
    "NULLS",
    "PARENT_ALL_NULL",
    "PARENT_EMPTY",
    "PruneResult",
    "prune_all",
    "prune_minmax",
]

PARENT_EMPTY = "parent_empty"
CHILD_EMPTY = "child_empty"
NULLS = "nulls"
PARENT_ALL_NULL = "parent_all_null"
MIN_BELOW = "min_below"
MAX_ABOVE = "max_above"


class PruneResult(NamedTuple):
    """Outcome of :func:`prune_minmax`: ``reason`` is one of the codes above, ``column`` the child
    column key that proves non-containment, ``detail`` a human-readable explanation."""

    pruned: bool
    reason: str | None = None
    column: str | None = None
    detail: str | None = None


KEEP = PruneResult(False)


def _usable(family: Family, value: Any) -> bool:
    if value is None:
        return False
    return not (family is Family.FLOAT and isinstance(value, float) and math.isnan(value))


def _less(family: Family, a: Any, b: Any) -> bool:
    """``a < b`` in the data's order; False when the values cannot be compared (unknown)."""
    try:
        return bool(stat_order_key(family, a) < stat_order_key(family, b))
    except (TypeError, ValueError, ArithmeticError):  # ArithmeticError covers decimal.InvalidOperation
        return False


def _has_non_null(stats: ColumnStats, num_rows: int | None) -> bool:
    if (stats.min is not None and stats.min_exact) or (stats.max is not None and stats.max_exact):
        return True
    return stats.null_count is not None and num_rows is not None and stats.null_count < num_rows


def prune_minmax(candidate: Candidate, parent: TableProfile, child: TableProfile) -> PruneResult:
    """Whether metadata proves that ``parent`` does not contain ``child`` (see the module docstring).

    ``candidate.column_map`` maps each child column key to the parent column name. Returns the first
    rule that fires, or ``PruneResult(False)``.
    """
    return _prune(candidate, parent, child, _families(parent), _families(child))


def _families(profile: TableProfile) -> dict[str, Family]:
    return {c.key: c.family for c in profile.columns}


def _prune(candidate: Candidate, parent: TableProfile, child: TableProfile,
           parent_families: Mapping[str, Family], child_families: Mapping[str, Family]) -> PruneResult:
    if parent.num_rows == 0:
        return PruneResult(True, PARENT_EMPTY, None, "the parent has no rows")
    if child.num_rows == 0:
        return PruneResult(True, CHILD_EMPTY, None, "the child has no rows")
    for child_key, parent_name in candidate.column_map:
        parent_key = parent_name.lower()
        family = child_families.get(child_key)
        cs = child.stats.get(child_key)
        ps = parent.stats.get(parent_key)
        if family is None or cs is None or ps is None:
            continue
        if cs.null_count is not None and cs.null_count > 0 and ps.null_count == 0:
            return PruneResult(True, NULLS, child_key,
                               f"{cs.null_count} null(s) in the child, none in parent column {parent_name!r}")
        parent_all_null = (ps.null_count is not None and parent.num_rows is not None
                           and ps.null_count == parent.num_rows > 0)
        if parent_all_null and _has_non_null(cs, child.num_rows):
            return PruneResult(True, PARENT_ALL_NULL, child_key,
                               f"parent column {parent_name!r} is all null, the child has values")
        if family is not parent_families.get(parent_key) or not family.comparable:
            continue
        if cs.null_count is not None and child.num_rows is not None and cs.null_count >= child.num_rows:
            continue  # all null: no value, so no bound to trust
        if cs.min_exact and _usable(family, cs.min) and _usable(family, ps.min) \
                and _less(family, cs.min, ps.min):
            return PruneResult(True, MIN_BELOW, child_key,
                               f"child exact min {cs.min!r} < parent min bound {ps.min!r}")
        if cs.max_exact and _usable(family, cs.max) and _usable(family, ps.max) \
                and _less(family, ps.max, cs.max):
            return PruneResult(True, MAX_ABOVE, child_key,
                               f"child exact max {cs.max!r} > parent max bound {ps.max!r}")
    return KEEP


def prune_all(
    candidates: Iterable[Candidate], profiles: Mapping[int, TableProfile]
) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Apply :func:`prune_minmax` to each candidate: (kept, [(pruned candidate, reason code)]).

    Order is preserved in both lists.
    """
    kept: list[Candidate] = []
    pruned: list[tuple[Candidate, str]] = []
    families: dict[int, dict[str, Family]] = {}
    for cand in candidates:
        pid, cid = cand.pair.parent, cand.pair.child
        parent, child = profiles[pid], profiles[cid]
        pf = families.get(pid)
        if pf is None:
            pf = families[pid] = _families(parent)
        cf = families.get(cid)
        if cf is None:
            cf = families[cid] = _families(child)
        result = _prune(cand, parent, child, pf, cf)
        if result.pruned:
            pruned.append((cand, result.reason or ""))
        else:
            kept.append(cand)
    return kept, pruned
