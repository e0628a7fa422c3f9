"""Ground truth beyond exact containment: overlaps with their exact fraction, containment except keys.

Brute force, like :func:`~r2d2.gen.truth.exact_oracle`, on the same canonical values (no hashing),
following DESIGN.md's semantics of the two report-only relations:

* ``overlaps``: the child's columns all exist in the parent (name and type family, as for
  containment), the child is not contained, and at least ``overlap_threshold`` (τ) of its *distinct*
  rows are rows of the parent projected on the child's columns. The edge carries the exact
  ``fraction`` = found / distinct, the same expression detect computes from its counts. Every such
  pair is in the truth, including those detect does not measure (min-max pruning is sound for
  containment only: a pair it rules out is never measured); a lake scored against this truth should
  keep its overlapping rows inside the parent's bounds, or count such pairs as misses.
* ``contains`` with ``except_columns``: the child has *generated-looking keys* — integer columns with
  no null whose min and max span exactly its row count (``max - min + 1 == rows``, the rule
  :func:`r2d2.containment.keys.generated_keys` applies to exact statistics), at least one other
  column left — and without all of them it is contained in a parent that does not contain it
  exactly. Such a pair is not also an overlap (detect reports the one relation).

Pairs are compared on per-column dictionary codes shared by all tables (exact: equal canonical values
get equal codes, null is one code), combined into one integer per row; each table's distinct row
codes are then compared with sorted-array lookups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from r2d2.gen.truth import ExpectedEdge, Truth, _Canon, exact_oracle

__all__ = ["beyond_oracle", "full_oracle", "generated_keys"]

_LIMIT = 1 << 62  # row codes stay below this (int64 without overflow)


def generated_keys(table: _Canon) -> tuple[str, ...]:
    """Columns of ``table`` that look generated (module docstring), in column order, or ()."""
    n = table.num_rows
    if n < 2 or table.has_unsupported:
        return ()
    keys = tuple(name for name, c in table.cols.items()
                 if c.family == "integer" and not c.has_null and c.lo is not None and c.hi - c.lo + 1 == n)
    return keys if len(keys) < len(table.cols) else ()


class _Rows:
    """Distinct row codes of tables projected on column sets, computed once per column set."""

    def __init__(self, canon: Mapping[str, _Canon]) -> None:
        self.canon = canon
        self._codes: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._sets: dict[tuple[tuple[str, str], ...], dict[str, tuple[np.ndarray, np.ndarray]]] = {}

    def _column_codes(self, term: tuple[str, str]) -> dict[str, np.ndarray]:
        """Per table holding column ``term`` = (name, family): its values' codes, shared by all tables."""
        got = self._codes.get(term)
        if got is None:
            name, family = term
            locs = [loc for loc, t in self.canon.items() if name in t.cols and t.cols[name].family == family]
            values = pa.concat_arrays([self.canon[loc].cols[name].values for loc in locs])
            codes = pc.dictionary_encode(values, null_encoding="encode")  # one dictionary for all
            flat = codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            bounds = np.cumsum([0, *(self.canon[loc].num_rows for loc in locs)])
            got = self._codes[term] = {loc: flat[bounds[i]:bounds[i + 1]] for i, loc in enumerate(locs)}
        return got

    def distinct(self, terms: tuple[tuple[str, str], ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per table holding every column of ``terms``: (sorted distinct row codes, their counts)."""
        got = self._sets.get(terms)
        if got is not None:
            return got
        per_col = [self._column_codes(t) for t in terms]
        locs = sorted(set.intersection(*(set(c) for c in per_col)))
        sizes = [self.canon[loc].num_rows for loc in locs]
        key = np.zeros(sum(sizes), dtype=np.int64)
        for codes in per_col:
            col = np.concatenate([codes[loc] for loc in locs])
            card = int(col.max()) + 1 if len(col) else 1
            if len(key) and int(key.max()) >= _LIMIT // card:  # re-number the rows seen so far densely
                key = np.unique(key, return_inverse=True)[1].astype(np.int64)
            key = key * card + col
        bounds = np.cumsum([0, *sizes])
        got = self._sets[terms] = {loc: np.unique(key[bounds[i]:bounds[i + 1]], return_counts=True)
                                   for i, loc in enumerate(locs)}
        return got


def _compare(child: tuple[np.ndarray, np.ndarray], parent: tuple[np.ndarray, np.ndarray]) -> tuple[int, bool]:
    """(distinct child rows found in the parent, every found row's count in the child ≤ the parent's)."""
    (c_rows, c_counts), (p_rows, p_counts) = child, parent
    at = np.searchsorted(p_rows, c_rows)
    at[at == len(p_rows)] = 0
    found = p_rows[at] == c_rows if len(p_rows) else np.zeros(len(c_rows), dtype=bool)
    return int(found.sum()), bool((c_counts[found] <= p_counts[at[found]]).all())


def _terms(table: _Canon, names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((n, table.cols[n].family) for n in names))


def beyond_oracle(tables: Mapping[str, pa.Table], exact: Truth, *, overlap_threshold: float = 0.9,
                  except_keys: bool = True) -> Truth:
    """The overlaps and containments except generated keys among ``tables`` (location -> table),
    given their exact truth ``exact`` (:func:`~r2d2.gen.truth.exact_oracle`). ``overlap_threshold``
    0 means no overlaps (as in detect's setting); ``except_keys`` False, no exceptions."""
    canon = {loc: c for loc, t in sorted(tables.items()) if (c := _Canon(t)).valid}
    rows = _Rows(canon)
    children = {loc: c for loc, c in canon.items() if c.cols and not c.has_unsupported}
    excepts: set[ExpectedEdge] = set()
    for cloc, child in children.items():
        keys = generated_keys(child) if except_keys else ()
        if not keys:
            continue
        terms = _terms(child, [n for n in child.cols if n not in keys])
        sets = rows.distinct(terms)
        for ploc, parent_rows in sets.items():
            if ploc == cloc or exact.holds(ploc, cloc):
                continue
            found, multiset = _compare(sets[cloc], parent_rows)
            if found == len(sets[cloc][0]):
                excepts.add(ExpectedEdge(ploc, cloc, "contains", multiset, except_columns=keys))
    overlaps: set[ExpectedEdge] = set()
    if overlap_threshold > 0:
        excepted = {(e.parent, e.child) for e in excepts}
        for cloc, child in children.items():
            sets = rows.distinct(_terms(child, list(child.cols)))
            distinct = len(sets[cloc][0])
            for ploc, parent_rows in sets.items():
                if ploc == cloc or len(parent_rows[0]) < overlap_threshold * distinct:
                    continue  # too few distinct rows to hold τ of the child's
                found, _ = _compare(sets[cloc], parent_rows)
                fraction = (distinct - (distinct - found)) / distinct  # as detect computes it
                if found == distinct:
                    if not exact.holds(ploc, cloc):
                        raise AssertionError(f"oracles disagree: {ploc} ⊇ {cloc} by row codes only")
                elif fraction >= overlap_threshold and (ploc, cloc) not in excepted:
                    overlaps.add(ExpectedEdge(ploc, cloc, "overlaps", False, fraction=fraction))
    return Truth(frozenset(), frozenset(overlaps), frozenset(excepts))


def full_oracle(tables: Mapping[str, pa.Table], *, overlap_threshold: float = 0.9, except_keys: bool = True) -> Truth:
    """Exact containments, overlaps and containments except generated keys among ``tables``."""
    exact = exact_oracle(tables)
    return exact | beyond_oracle(tables, exact, overlap_threshold=overlap_threshold, except_keys=except_keys)
