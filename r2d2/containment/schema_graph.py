"""Stage 1: the schema containment graph.

A table C can only be contained in a table P when every column of C has a column in P with the same
name (compared case-insensitively) and the same type family (DESIGN, containment semantics). This
stage lists exactly those (P, C) pairs from metadata, without looking at all pairs:

* every (column key, family) is interned to an int *term*; an inverted index maps each term to the set
  of eligible parents holding it;
* each distinct child schema (a set of terms; tables with equal schemas share the work) intersects
  the posting sets of its terms, rarest first, and stops as soon as the intersection is empty.

Cost: index building is linear in the number of columns; a child schema costs at most its rarest
posting set (Python's set intersection walks the smaller operand); output is proportional to the
number of candidates. Column maps are interned, so candidates of tables with equal schemas share one.

Eligibility (a table that fails it is reported as an :class:`~r2d2.containment.candidates.Exclusion`):

* ``ambiguous: ...``: two columns whose names collide case-insensitively ("ID" and "id"): no edge at
  all, since a name does not say which column is meant;
* ``empty: ...``: ``num_rows == 0`` or no columns at all: no edge at all (``num_rows is None``,
  unknown, is eligible);
* ``unsupported: ...``: a column of family UNSUPPORTED cannot be compared, so the table is never a
  child; it may still be a parent on its supported columns (unless it has none: then no edge at all).

A table is never its own parent. Tables with equal schemas get both directions (deciding which
is a duplicate is a later stage's job).

Soundness: for a true edge P ⊇ C both tables are eligible (C has rows and columns, so P has rows; all
C's columns are comparable), and each column of C has its (key, family) in P, so P is in every
posting set of C's terms and in their intersection.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Mapping
from typing import NamedTuple

from r2d2.containment.candidates import Candidate, Exclusion, Pair
from r2d2.types import Family, TableProfile

__all__ = ["SchemaGraph", "schema_candidates"]


class SchemaGraph(NamedTuple):
    """Result of :func:`schema_candidates`: candidates sorted by (child, parent), and exclusions."""

    candidates: list[Candidate]
    exclusions: list[Exclusion]


_new = object.__new__
_set_parent = vars(Pair)["parent"].__set__  # slot descriptor
_set_child = vars(Pair)["child"].__set__  # slot descriptor
_set_pair = vars(Candidate)["pair"].__set__  # slot descriptor
_set_map = vars(Candidate)["column_map"].__set__  # slot descriptor


def schema_candidates(profiles: Mapping[int, TableProfile], *,
                      children_only: Collection[int] | None = None,
                      parents_only: Collection[int] | None = None) -> SchemaGraph:
    """All (parent, child) pairs whose schemas allow containment, with their column maps.

    ``profiles`` maps table id → profile. Returns candidates sorted by (child id, parent id), each
    with ``column_map`` = (child key, parent column name) for every child column, and the exclusions
    (table id, reason) sorted by table id. ``children_only``: only pairs whose child is one of these
    (every table is still a possible parent); ``parents_only``: only pairs whose parent is one of these.
    """
    terms: dict[tuple[str, Family], int] = {}
    postings: list[set[int]] = []
    exclusions: list[Exclusion] = []
    # Parent naming: per distinct {term: parent column name}, shared by tables named alike.
    namings: dict[tuple[tuple[int, str], ...], int] = {}
    naming_dicts: list[dict[int, str]] = []
    parent_naming: dict[int, int] = {}
    # Child schemas: per distinct sorted tuple of (key, term).
    schemas: dict[tuple[tuple[str, int], ...], int] = {}
    schema_keys: list[tuple[tuple[str, int], ...]] = []
    children: list[tuple[int, int]] = []  # (table id, schema id)

    for tid in sorted(profiles):
        profile = profiles[tid]
        reason = _exclusion_reason(profile)
        if reason is not None:
            exclusions.append(Exclusion(tid, reason))
            continue
        unsupported = [c for c in profile.columns if c.family is Family.UNSUPPORTED]
        naming: list[tuple[int, str]] = []
        child_terms: list[tuple[str, int]] = []
        for col in profile.columns:
            if col.family is Family.UNSUPPORTED:
                continue
            term_key = (col.key, col.family)
            term = terms.get(term_key)
            if term is None:
                term = terms[term_key] = len(postings)
                postings.append(set())
            if parents_only is None or tid in parents_only:
                postings[term].add(tid)
            naming.append((term, col.name))
            child_terms.append((col.key, term))
        naming.sort()
        naming_t = tuple(naming)
        nid = namings.get(naming_t)
        if nid is None:
            nid = namings[naming_t] = len(naming_dicts)
            naming_dicts.append(dict(naming_t))
        parent_naming[tid] = nid
        if unsupported:
            col = unsupported[0]
            detail = f" ({col.reason})" if col.reason else ""
            exclusions.append(Exclusion(
                tid, f"unsupported: column {col.name!r} has an unsupported type{detail}; "
                     "the table can only be a parent"))
            continue
        child_terms.sort()
        schema_t = tuple(child_terms)
        sid = schemas.get(schema_t)
        if sid is None:
            sid = schemas[schema_t] = len(schema_keys)
            schema_keys.append(schema_t)
        children.append((tid, sid))

    # Per child schema: its parents, each with the column map (shared by parents named alike).
    parents_of: dict[int, list[tuple[int, tuple[tuple[str, str], ...]]]] = {}
    maps: dict[tuple[int, int], tuple[tuple[str, str], ...]] = {}
    out: list[Candidate] = []
    append = out.append
    new, set_parent, set_child, set_pair, set_map = _new, _set_parent, _set_child, _set_pair, _set_map
    gc_was_enabled = gc.isenabled()
    # The output is millions of small acyclic objects: generational collections triggered by their
    # allocation would only rescan them (more than halving the run time); nothing here makes cycles.
    gc.disable()
    try:
        for child, sid in children:
            if children_only is not None and child not in children_only:
                continue
            parents = parents_of.get(sid)
            if parents is None:
                parents = []
                for parent in _intersect([postings[t] for _, t in schema_keys[sid]]):
                    key = (sid, parent_naming[parent])
                    cmap = maps.get(key)
                    if cmap is None:
                        names = naming_dicts[key[1]]
                        cmap = maps[key] = tuple((k, names[t]) for k, t in schema_keys[sid])
                    parents.append((parent, cmap))
                parents_of[sid] = parents
            for parent, cmap in parents:
                if parent != child:
                    # Candidate(Pair(parent, child), cmap) without the frozen dataclasses' __init__,
                    # whose object.__setattr__ calls dominate with millions of edges.
                    pair = new(Pair)
                    set_parent(pair, parent)
                    set_child(pair, child)
                    cand = new(Candidate)
                    set_pair(cand, pair)
                    set_map(cand, cmap)
                    append(cand)
    finally:
        if gc_was_enabled:
            gc.enable()
    return SchemaGraph(out, exclusions)


def _intersect(sets: list[set[int]]) -> list[int]:
    """Sorted intersection of ``sets``, rarest first, stopping early when it becomes empty."""
    sets.sort(key=len)
    if not sets or not sets[0]:
        return []
    acc = sets[0]
    for other in sets[1:]:
        acc = acc & other  # iterates over the smaller set; never mutates an index posting set
        if not acc:
            return []
    return sorted(acc)


def _exclusion_reason(profile: TableProfile) -> str | None:
    """Why ``profile`` takes part in no edge at all, or None."""
    seen: dict[str, str] = {}
    for col in profile.columns:
        other = seen.get(col.key)
        if other is not None:
            return f"ambiguous: columns {other!r} and {col.name!r} collide case-insensitively"
        seen[col.key] = col.name
    if profile.num_rows == 0:
        return "empty: the table has 0 rows"
    if not profile.columns:
        return "empty: the table has no columns"
    if all(c.family is Family.UNSUPPORTED for c in profile.columns):
        return "unsupported: the table has no column of a supported type"
    return None
