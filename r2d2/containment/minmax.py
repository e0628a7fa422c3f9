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

import decimal
import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any, NamedTuple

from r2d2.containment.candidates import Candidate
from r2d2.types import Family, TableProfile, stat_order_key

__all__ = [
    "CHILD_EMPTY",
    "MAX_ABOVE",
    "MIN_BELOW",
    "NULLS",
    "PARENT_ALL_NULL",
    "PARENT_EMPTY",
    "PruneResult",
    "digest_without",
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


class _Facts(NamedTuple):
    """What the rules need from one column's statistics, with bounds already turned into order keys
    (``None`` = unknown). Computed once per table, so a table in many candidates costs it once."""

    family: Family
    null_count: int | None
    all_null: bool  # known to hold only nulls (and the table has rows)
    has_value: bool  # known to hold a non-null value
    exact_lo: Any  # order key of an exact min (child side), None if unknown or all null
    exact_hi: Any
    lo: Any  # order key of any valid min bound (parent side)
    hi: Any


def _order_key(family: Family, value: Any) -> Any:
    """Order key of a canonical bound, or None when the bound is absent, NaN or unreadable."""
    if value is None or not family.comparable:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        key = stat_order_key(family, value)
    # Corrupt or mistyped statistics (an int where a string is expected, bad hex) are unknowns.
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        return None
    if isinstance(key, decimal.Decimal) and key.is_nan():
        return None
    return key


def _less(a: Any, b: Any) -> bool:
    """``a < b`` for order keys; False (unknown) when they cannot be compared (mixed types)."""
    try:
        return bool(a < b)
    except (TypeError, ValueError, ArithmeticError):
        return False


def _table_facts(profile: TableProfile) -> dict[str, _Facts]:
    rows = profile.num_rows
    out: dict[str, _Facts] = {}
    for col in profile.columns:
        stats = profile.stats.get(col.key)
        if stats is None:
            continue
        fam = col.family
        nulls = stats.null_count
        all_null = nulls is not None and rows is not None and rows > 0 and nulls >= rows
        lo, hi = _order_key(fam, stats.min), _order_key(fam, stats.max)  # each bound's key, made once
        exact_lo = None if all_null or not stats.min_exact else lo
        exact_hi = None if all_null or not stats.max_exact else hi
        has_value = ((stats.min is not None and stats.min_exact)
                     or (stats.max is not None and stats.max_exact)
                     or (nulls is not None and rows is not None and nulls < rows))
        out[col.key] = _Facts(fam, nulls, all_null, has_value, exact_lo, exact_hi, lo, hi)
    return out


def prune_minmax(candidate: Candidate, parent: TableProfile, child: TableProfile) -> PruneResult:
    """Whether metadata proves that ``parent`` does not contain ``child`` (see the module docstring).

    ``candidate.column_map`` maps each child column key to the parent column name. Returns the first
    rule that fires, or ``PruneResult(False)``.
    """
    fired = _rule(candidate, parent, child, _table_facts(parent), _table_facts(child))
    if fired is None:
        return KEEP
    code, key, parent_name = fired
    return PruneResult(True, code, key, _explain(code, key, parent_name, parent, child))


def _explain(code: str, key: str | None, parent_name: str | None, parent: TableProfile,
             child: TableProfile) -> str:
    if code == PARENT_EMPTY:
        return "the parent has no rows"
    if code == CHILD_EMPTY:
        return "the child has no rows"
    assert key is not None and parent_name is not None
    cs, ps = child.stats[key], parent.stats[parent_name.lower()]
    if code == NULLS:
        return f"{cs.null_count} null(s) in the child, none in parent column {parent_name!r}"
    if code == PARENT_ALL_NULL:
        return f"parent column {parent_name!r} is all null, the child has values"
    if code == MIN_BELOW:
        return f"child exact min {cs.min!r} < parent {parent_name!r} min bound {ps.min!r}"
    return f"child exact max {cs.max!r} > parent {parent_name!r} max bound {ps.max!r}"


def _rule(candidate: Candidate, parent: TableProfile, child: TableProfile,
          parent_facts: Mapping[str, _Facts], child_facts: Mapping[str, _Facts],
          ) -> tuple[str, str | None, str | None] | None:
    """The first rule that fires, as (code, child key, parent column name), or None."""
    if parent.num_rows == 0:
        return PARENT_EMPTY, None, None
    if child.num_rows == 0:
        return CHILD_EMPTY, None, None
    for child_key, parent_name in candidate.column_map:
        c = child_facts.get(child_key)
        p = parent_facts.get(parent_name.lower())
        if c is None or p is None:
            continue
        if c.null_count and p.null_count == 0:
            return NULLS, child_key, parent_name
        if p.all_null and c.has_value:
            return PARENT_ALL_NULL, child_key, parent_name
        if c.family is not p.family:
            continue
        if c.exact_lo is not None and p.lo is not None and _less(c.exact_lo, p.lo):
            return MIN_BELOW, child_key, parent_name
        if c.exact_hi is not None and p.hi is not None and _less(p.hi, c.exact_hi):
            return MAX_ABOVE, child_key, parent_name
    return None


Digests = dict[int, dict[str, _Facts]]


def digest_without(facts: Digests, table_id: int, profile: TableProfile,
                   left_out: Collection[str]) -> dict[str, _Facts]:
    """The digest of table ``table_id`` seen without the columns ``left_out`` (same rows, the others'
    statistics: :func:`r2d2.containment.keys.without`): its own digest less those columns, made now and
    kept in ``facts`` if it is not there yet. The except pass digests a view of every keyed table this way."""
    own = facts.get(table_id)
    if own is None:
        own = facts[table_id] = _table_facts(profile)
    return {k: f for k, f in own.items() if k not in left_out}


def prune_all(
    candidates: Iterable[Candidate], profiles: Mapping[int, TableProfile], *, facts: Digests | None = None,
) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Apply :func:`prune_minmax` to each candidate: (kept, [(pruned candidate, reason)]).

    A reason is ``"<code>: child column '<key>', parent '<name>'"`` (just the code for the row-count
    rules); the code is one of the module constants. Order is preserved in both lists. Statistics are
    digested once per table, so a table in many candidates costs little; ``facts``: the digests by
    table id, shared by calls over the same profiles (filled as tables come).
    """
    kept: list[Candidate] = []
    pruned: list[tuple[Candidate, str]] = []
    facts = {} if facts is None else facts
    for cand in candidates:
        pid, cid = cand.pair.parent, cand.pair.child
        parent, child = profiles[pid], profiles[cid]
        pf = facts.get(pid)
        if pf is None:
            pf = facts[pid] = _table_facts(parent)
        cf = facts.get(cid)
        if cf is None:
            cf = facts[cid] = _table_facts(child)
        fired = _rule(cand, parent, child, pf, cf)
        if fired is not None:
            code, key, parent_name = fired
            reason = code if key is None else f"{code}: child column {key!r}, parent {parent_name!r}"
            pruned.append((cand, reason))
        else:
            kept.append(cand)
    return kept, pruned
