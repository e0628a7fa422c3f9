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

The oracle is exact for every family except strings / binary / decimals, which are keyed by a
128-bit hash of their canonical bytes (two independent 64-bit keyed hashes); all other values are
keyed by their exact canonical 64-bit pattern. Rows are compared as raw byte rows of those keys.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Relation = Literal["contains", "duplicate"]

__all__ = ["ExpectedEdge", "Relation", "Truth", "canonical_family", "contains", "exact_oracle"]


@dataclass(frozen=True, order=True)
class ExpectedEdge:
    """One expected edge: ``parent`` contains ``child`` (or both are duplicates of each other)."""

    parent: str
    child: str
    relation: Relation
    multiset: bool

    def to_json(self) -> dict[str, Any]:
        return {"parent": self.parent, "child": self.child, "relation": self.relation,
                "multiset": self.multiset}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExpectedEdge:
        return cls(parent=str(data["parent"]), child=str(data["child"]),
                   relation=data["relation"], multiset=bool(data["multiset"]))


@dataclass(frozen=True)
class Truth:
    """The complete set of expected edges among the tables of a lake."""

    edges: frozenset[ExpectedEdge] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not isinstance(self.edges, frozenset):
            object.__setattr__(self, "edges", frozenset(self.edges))

    def __len__(self) -> int:
        return len(self.edges)

    def __iter__(self):
        return iter(sorted(self.edges))

    def __or__(self, other: Truth) -> Truth:
        return Truth(self.edges | other.edges)

    @property
    def pairs(self) -> frozenset[tuple[str, str]]:
        """(parent, child) of every edge, as stored (duplicates once)."""
        return frozenset((e.parent, e.child) for e in self.edges)

    def edge(self, parent: str, child: str) -> ExpectedEdge | None:
        """The edge between two tables: ``parent ⊇ child``, or a duplicate in either order."""
        for e in self.edges:
            if (e.parent, e.child) == (parent, child) or (
                e.relation == "duplicate" and (e.parent, e.child) == (child, parent)
            ):
                return e
        return None

    def holds(self, parent: str, child: str) -> bool:
        """Whether ``parent`` contains ``child`` (a duplicate counts in both directions)."""
        return self.edge(parent, child) is not None

    def restrict(self, locations: Iterable[str]) -> Truth:
        """The edges whose both ends are in ``locations``."""
        keep = set(locations)
        return Truth(frozenset(e for e in self.edges if e.parent in keep and e.child in keep))

    def diff(self, other: Truth) -> tuple[list[ExpectedEdge], list[ExpectedEdge]]:
        """(edges only in self, edges only in other), sorted: handy in test failure messages."""
        return sorted(self.edges - other.edges), sorted(other.edges - self.edges)

    def to_json(self) -> dict[str, Any]:
        return {"edges": [e.to_json() for e in sorted(self.edges)]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Truth:
        return cls(frozenset(ExpectedEdge.from_json(e) for e in data["edges"]))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> Truth:
        return cls.from_json(json.loads(Path(path).read_text()))


# ---------------------------------------------------------------------------------------------------
# canonicalisation

_ORDERED = {"integer", "float", "date", "timestamp", "boolean"}
_HASHED = {"string", "binary", "decimal"}
_KEY1 = "r2d2oracle-key-1"  # pandas keyed hashes need 16-character keys
_KEY2 = "r2d2oracle-key-2"
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
    codes: list[np.ndarray]  # one or two uint64 arrays: the exact key of each value
    nulls: np.ndarray  # bool
    lo: Any = None  # min / max of the non-null, non-NaN values (ordered families only)
    hi: Any = None
    has_nan: bool = False


def _decimal_strings(arr: pa.Array) -> pa.Array:
    s = pc.cast(arr, pa.string())
    s = pc.replace_substring_regex(s, r"^(-?\d+)\.(\d*?)0+$", r"\1.\2")  # strip trailing zeros
    s = pc.replace_substring_regex(s, r"\.$", "")
    return pc.replace_substring_regex(s, r"^-0$", "0")


def _canon_column(col: pa.ChunkedArray) -> _Col | None:
    t = col.type
    if pa.types.is_dictionary(t):
        col = pc.cast(col, t.value_type)
        t = col.type
    fam = canonical_family(t)
    if fam is None:
        return None
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    nulls = arr.is_null().to_numpy(zero_copy_only=False)
    out = _Col(family=fam, codes=[], nulls=nulls)
    if fam in _HASHED:
        if fam == "decimal":
            arr = _decimal_strings(arr)
        elif fam == "string":
            arr = pc.cast(arr, pa.string())
        else:
            arr = pc.cast(arr, pa.binary())
        vals = arr.fill_null("" if fam != "binary" else b"").to_numpy(zero_copy_only=False)
        vals = np.asarray(vals, dtype=object)
        out.codes = [pd.util.hash_array(vals, hash_key=_KEY1, categorize=False),
                     pd.util.hash_array(vals, hash_key=_KEY2, categorize=False)]
        return out
    if fam == "float":
        f = pc.cast(arr, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        nan = np.isnan(f)
        f = np.where(f == 0.0, 0.0, f)  # -0.0 -> 0.0
        f[nan] = np.nan  # one NaN bit pattern
        out.has_nan = bool((nan & ~nulls).any())
        good = ~nulls & ~nan
        if good.any():
            out.lo, out.hi = float(f[good].min()), float(f[good].max())
        out.codes = [f.view(np.uint64)]
        return out
    if fam == "integer":
        i = pc.cast(arr, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    elif fam == "boolean":
        i = pc.cast(arr, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    elif fam == "date":
        i = pc.cast(pc.cast(arr, pa.date32()), pa.int32()).fill_null(0).to_numpy(
            zero_copy_only=False).astype(np.int64)
    else:  # timestamp: instants in ns since the epoch, UTC
        i = pc.cast(arr, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False) * _NS_PER[t.unit]
    i = np.asarray(i, dtype=np.int64)
    good = ~nulls
    if good.any():
        out.lo, out.hi = int(i[good].min()), int(i[good].max())
    out.codes = [i.view(np.uint64)]
    return out


class _Canon:
    """A table in canonical form: lower-cased column name -> canonical column; rows keyed lazily."""

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
        self._rows: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}

    @property
    def signature(self) -> dict[str, str]:
        return {n: c.family for n, c in self.cols.items()}

    def rows(self, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Sorted distinct row keys of the projection on ``names`` (sorted), and their counts."""
        got = self._rows.get(names)
        if got is None:
            parts: list[np.ndarray] = []
            nullbits = []
            for k, n in enumerate(names):
                c = self.cols[n]
                parts.extend(c.codes)
                nullbits.append(c.nulls.astype(np.uint64) << np.uint64(k % 64))
            for start in range(0, len(nullbits), 64):
                parts.append(np.bitwise_or.reduce(np.stack(nullbits[start:start + 64]), axis=0))
            mat = np.ascontiguousarray(np.stack(parts, axis=1))
            keys = mat.view(np.dtype((np.void, 8 * mat.shape[1]))).ravel()
            got = np.unique(keys, return_counts=True)
            self._rows[names] = got
        return got


def _may_contain(p: _Canon, c: _Canon) -> bool:
    """Sound, cheap pre-checks: schema, then per-column null / NaN / min-max bounds."""
    for name, cc in c.cols.items():
        pcol = p.cols.get(name)
        if pcol is None or pcol.family != cc.family:
            return False
        if cc.nulls.any() and not pcol.nulls.any():
            return False
        if cc.has_nan and not pcol.has_nan:
            return False
        if cc.lo is not None and (pcol.lo is None or cc.lo < pcol.lo or cc.hi > pcol.hi):
            return False
    return True


def contains(p: _Canon, c: _Canon) -> tuple[bool, bool]:
    """(P ⊇ C as sets, and every count in C ≤ its count in P)."""
    if not _may_contain(p, c):
        return False, False
    names = tuple(sorted(c.cols))
    ck, cn = c.rows(names)
    pk, pn = p.rows(names)
    if len(ck) > len(pk):
        return False, False
    idx = np.searchsorted(pk, ck)
    idx = np.minimum(idx, len(pk) - 1)
    if not bool((pk[idx] == ck).all()):
        return False, False
    return True, bool((cn <= pn[idx]).all())


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
        ok, multiset = contains(canon[ploc], child)
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
