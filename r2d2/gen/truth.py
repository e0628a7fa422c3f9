"""Ground truth for generated lakes, and a brute-force exact containment oracle.

:class:`Truth` is the set of expected edges of a lake. :func:`exact_oracle` computes it from in-memory
``pyarrow`` tables, following the containment semantics of DESIGN.md:

* columns match by lower-cased name and type family (integers of any width, floats, decimals, strings,
  binary, boolean, date, timestamps of any unit compared as UTC instants); nested and other
  unsupported columns never match;
* rows compare as sets; null equals null, NaN equals NaN (NaN is a value, not null), -0.0 equals 0.0;
* ``multiset`` records whether every row's count in the child is at most its count in the parent;
* ``duplicate``: both directions hold (same column set, same row set); reported once, the parent being
  the lexicographically smaller location, ``multiset`` computed in that orientation;
* tables with zero rows or zero columns take part in no edge.

The oracle is exact (no hashing of values): each column is canonicalised to an Arrow array (int64
for integers / booleans / dates / timestamps in ns / float bit patterns, string for strings and
normalised decimals, binary) and each candidate pair is decided by one Arrow hash group-by over the
rows of both tables. Cheap sound pre-checks (schema, nulls, NaN, exact min/max) skip most pairs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Relation = Literal["contains", "duplicate", "overlaps"]

__all__ = ["ExpectedEdge", "Relation", "Truth", "canonical_family", "exact_oracle"]


@dataclass(frozen=True, order=True)
class ExpectedEdge:
    """One expected edge: ``parent`` contains ``child`` (or both are duplicates of each other).

    Beyond exact containment (:mod:`r2d2.gen.beyond`): an ``overlaps`` edge carries the exact
    ``fraction`` of the child's distinct rows found in the parent; a ``contains`` edge with
    ``except_columns`` holds on every child column but those (generated keys, lower-cased names).
    """

    parent: str
    child: str
    relation: Relation
    multiset: bool
    fraction: float | None = None
    except_columns: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The edge's fields; ``fraction`` and ``except_columns`` only where they apply."""
        out: dict[str, Any] = {"parent": self.parent, "child": self.child, "relation": self.relation,
                               "multiset": self.multiset}
        if self.fraction is not None:
            out["fraction"] = self.fraction
        if self.except_columns:
            out["except_columns"] = list(self.except_columns)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExpectedEdge:
        fraction = data.get("fraction")
        return cls(parent=str(data["parent"]), child=str(data["child"]),
                   relation=data["relation"], multiset=bool(data["multiset"]),
                   fraction=None if fraction is None else float(fraction),
                   except_columns=tuple(str(c) for c in data.get("except_columns", ())))


@dataclass(frozen=True)
class Truth:
    """The complete set of expected edges among the tables of a lake.

    ``edges`` are the exact containments and duplicates: everything below (``len``, iteration,
    ``pairs``, ``edge``, ``holds``, ``diff``) is about them only. The report-only relations
    beyond them (:mod:`r2d2.gen.beyond`) are kept apart: ``overlaps`` (relation ``overlaps``, with
    their exact ``fraction``) and ``excepts`` (``contains`` with ``except_columns``); both are empty
    for a truth that does not cover them.
    """

    edges: frozenset[ExpectedEdge] = field(default_factory=frozenset)
    overlaps: frozenset[ExpectedEdge] = field(default_factory=frozenset)
    excepts: frozenset[ExpectedEdge] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in ("edges", "overlaps", "excepts"):
            if not isinstance(getattr(self, name), frozenset):
                object.__setattr__(self, name, frozenset(getattr(self, name)))

    def __len__(self) -> int:
        return len(self.edges)

    def __iter__(self):
        return iter(sorted(self.edges))

    def __or__(self, other: Truth) -> Truth:
        return Truth(self.edges | other.edges, self.overlaps | other.overlaps, self.excepts | other.excepts)

    @property
    def pairs(self) -> frozenset[tuple[str, str]]:
        """(parent, child) of every edge, as stored (duplicates once)."""
        return frozenset((e.parent, e.child) for e in self.edges)

    @cached_property
    def _index(self) -> dict[tuple[str, str], ExpectedEdge]:
        index = {(e.parent, e.child): e for e in self.edges}
        index.update({(e.child, e.parent): e for e in self.edges if e.relation == "duplicate"})
        return index

    def edge(self, parent: str, child: str) -> ExpectedEdge | None:
        """The edge between two tables: ``parent ⊇ child``, or a duplicate in either order."""
        return self._index.get((parent, child))

    def holds(self, parent: str, child: str) -> bool:
        """Whether ``parent`` contains ``child`` (a duplicate counts in both directions)."""
        return self.edge(parent, child) is not None

    def restrict(self, locations: Iterable[str]) -> Truth:
        """The edges (of every kind) whose both ends are in ``locations``."""
        keep = set(locations)

        def inside(edges: frozenset[ExpectedEdge]) -> frozenset[ExpectedEdge]:
            return frozenset(e for e in edges if e.parent in keep and e.child in keep)

        return Truth(inside(self.edges), inside(self.overlaps), inside(self.excepts))

    def diff(self, other: Truth) -> tuple[list[ExpectedEdge], list[ExpectedEdge]]:
        """(edges only in self, edges only in other), sorted: handy in test failure messages."""
        return sorted(self.edges - other.edges), sorted(other.edges - self.edges)

    def to_json(self) -> dict[str, Any]:
        """``{"edges": [...]}``, plus ``"overlaps"`` and ``"excepts"`` when the truth has any."""
        out: dict[str, Any] = {"edges": [e.to_json() for e in sorted(self.edges)]}
        for name in ("overlaps", "excepts"):
            edges: frozenset[ExpectedEdge] = getattr(self, name)
            if edges:
                out[name] = [e.to_json() for e in sorted(edges)]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Truth:
        def edges(name: str) -> frozenset[ExpectedEdge]:
            return frozenset(ExpectedEdge.from_json(e) for e in data.get(name, ()))

        return cls(edges("edges"), edges("overlaps"), edges("excepts"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> Truth:
        return cls.from_json(json.loads(Path(path).read_text()))


# ---------------------------------------------------------------------------------------------------
# canonicalisation

_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def canonical_family(t: pa.DataType) -> str | None:
    """Type family of an Arrow type, or None when unsupported (nested, uint64, time, null, ...)."""
    if pa.types.is_dictionary(t):
        return canonical_family(t.value_type)
    if pa.types.is_integer(t):
        return None if t == pa.uint64() else "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
            or pa.types.is_binary_view(t)):
        return "binary"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    return None


@dataclass
class _Col:
    family: str
    values: pa.Array  # canonical values: int64 (ints, bools, dates, timestamps in ns, float bits) or
    #                   string (strings, normalised decimals) or binary; nulls kept as nulls
    has_null: bool
    lo: Any = None  # exact min / max of the non-null, non-NaN values (None: unknown or none)
    hi: Any = None
    has_nan: bool = False


def _decimal_strings(arr: pa.Array) -> pa.Array:
    s = pc.cast(arr, pa.string())
    s = pc.replace_substring_regex(s, r"^(-?\d+)\.(\d*?)0+$", r"\1.\2")  # strip trailing zeros
    s = pc.replace_substring_regex(s, r"\.$", "")
    return pc.replace_substring_regex(s, r"^-0$", "0")


def _min_max(arr: pa.Array) -> tuple[Any, Any]:
    mm = pc.min_max(arr)
    return mm["min"].as_py(), mm["max"].as_py()


def _canon_column(col: pa.ChunkedArray | pa.Array) -> _Col | None:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    fam = canonical_family(t)
    if fam is None:
        return None
    has_null = arr.null_count > 0
    if fam == "decimal":
        return _Col(fam, _decimal_strings(arr), has_null)
    if fam == "string":
        v = pc.cast(arr, pa.string())
        return _Col(fam, v, has_null, *_min_max(v))
    if fam == "binary":
        return _Col(fam, pc.cast(arr, pa.binary()), has_null)
    if fam == "float":
        nulls = arr.is_null().to_numpy(zero_copy_only=False)
        f = pc.cast(arr, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        nan = np.isnan(f)
        f = np.where(f == 0.0, 0.0, f)  # -0.0 -> 0.0
        f[nan] = np.nan  # one NaN bit pattern
        good = ~nulls & ~nan
        lo = float(f[good].min()) if good.any() else None
        hi = float(f[good].max()) if good.any() else None
        bits = pa.array(f.view(np.int64), pa.int64(), mask=nulls if has_null else None)
        return _Col(fam, bits, has_null, lo, hi, has_nan=bool((nan & ~nulls).any()))
    if fam == "date":
        v = pc.cast(pc.cast(pc.cast(arr, pa.date32()), pa.int32()), pa.int64())
    elif fam == "timestamp":  # instants in ns since the epoch, UTC
        v = pc.multiply(pc.cast(arr, pa.int64()), pa.scalar(_NS_PER[t.unit], pa.int64()))
    else:  # integer, boolean
        v = pc.cast(arr, pa.int64())
    return _Col(fam, v, has_null, *_min_max(v))


class _Canon:
    """A table in canonical form: lower-cased column name -> canonical column."""

    def __init__(self, table: pa.Table) -> None:
        self.num_rows = table.num_rows
        self.cols: dict[str, _Col] = {}
        names = [n.lower() for n in table.column_names]
        self.valid = len(set(names)) == len(names) and table.num_rows > 0 and table.num_columns > 0
        self.has_unsupported = False
        if not self.valid:
            return
        for name, col in zip(names, table.columns, strict=True):
            c = _canon_column(col)
            if c is None:
                self.has_unsupported = True
            else:
                self.cols[name] = c

    def project(self, names: list[str], tag: int) -> pa.Table:
        cols = {f"k{i}": self.cols[n].values for i, n in enumerate(names)}
        cols["__tag"] = pa.array(np.full(self.num_rows, tag, dtype=np.int64))
        return pa.table(cols)


def _may_contain(p: _Canon, c: _Canon) -> bool:
    """Sound, cheap pre-checks: schema, then per-column null / NaN / min-max bounds."""
    for name, cc in c.cols.items():
        pcol = p.cols.get(name)
        if pcol is None or pcol.family != cc.family:
            return False
        if (cc.has_null and not pcol.has_null) or (cc.has_nan and not pcol.has_nan):
            return False
        if cc.lo is not None and (pcol.lo is None or cc.lo < pcol.lo or cc.hi > pcol.hi):
            return False
    return True


def _contains(p: _Canon, c: _Canon) -> tuple[bool, bool]:
    """(P ⊇ C as sets, and every row count in C ≤ its count in P).

    One hash group-by (Arrow) over the rows of both tables projected on C's columns, keyed on the
    canonical values: nulls form one group (null = null), NaN has one bit pattern, -0.0 is 0.0.
    """
    if not _may_contain(p, c):
        return False, False
    names = sorted(c.cols)
    both = pa.concat_tables([p.project(names, 0), c.project(names, 1)])
    for i, f in enumerate(both.schema):
        if pa.types.is_string(f.type) or pa.types.is_binary(f.type):  # group on small integer codes
            codes = pc.dictionary_encode(both.column(i).combine_chunks()).indices
            both = both.set_column(i, f.name, codes)
    # single-threaded: faster here, and the generator already runs one family per thread
    g = both.group_by([f"k{i}" for i in range(len(names))], use_threads=False).aggregate(
        [("__tag", "sum"), ("__tag", "count")])
    in_c = g.column("__tag_sum").to_numpy()
    in_p = g.column("__tag_count").to_numpy() - in_c
    present = in_c > 0
    if bool((in_p[present] == 0).any()):
        return False, False
    return True, bool((in_c <= in_p).all())


def exact_oracle(tables: Mapping[str, pa.Table]) -> Truth:
    """Brute-force exact containment over all ordered pairs of ``tables`` (location -> table)."""
    canon: dict[str, _Canon] = {}
    for loc, tbl in tables.items():
        c = _Canon(tbl)
        if c.valid:
            canon[loc] = c
    found: dict[tuple[str, str], bool] = {}
    for ploc, cloc in itertools.permutations(sorted(canon), 2):
        child = canon[cloc]
        if child.has_unsupported or not child.cols:
            continue  # a child with an unmatched column is never contained
        ok, multiset = _contains(canon[ploc], child)
        if ok:
            found[(ploc, cloc)] = multiset
    edges: set[ExpectedEdge] = set()
    for (ploc, cloc), multiset in found.items():
        if (cloc, ploc) in found:
            if ploc < cloc:
                edges.add(ExpectedEdge(ploc, cloc, "duplicate", multiset))
        else:
            edges.add(ExpectedEdge(ploc, cloc, "contains", multiset))
    return Truth(frozenset(edges))
