"""Small value types shared by the containment stages: pairs, candidate edges and exclusions.

A :class:`Candidate` is a possible edge "parent contains child" that has survived every stage run so
far. Its ``column_map`` is the projection to apply to the parent when comparing it with the child:
for each child column key (``Column.key``, lower case) the parent's column name exactly as written in
the parent's profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

ColumnMap = Mapping[str, str]
"""Child column key → parent column name (as in the parent profile)."""


@dataclass(frozen=True, order=True, slots=True)
class Pair:
    """An ordered pair of table ids: does ``parent`` contain ``child``?"""

    parent: int
    child: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A candidate edge ``pair.parent → pair.child`` with the column projection that links them.

    ``column_map`` holds ``(child column key, parent column name)`` pairs sorted by child key and
    covers every column of the child.
    """

    pair: Pair
    column_map: tuple[tuple[str, str], ...]

    @property
    def parent(self) -> int:
        return self.pair.parent

    @property
    def child(self) -> int:
        return self.pair.child

    def columns(self) -> dict[str, str]:
        """The column map as a dict (child key → parent column name)."""
        return dict(self.column_map)


class Exclusion(NamedTuple):
    """A table left out of (some) edges, and why. ``reason`` starts with a stable code."""

    table_id: int
    reason: str
