"""Frozen records returned by the catalog (ORM objects never leave the package)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from r2d2.catalog.db import json_dumps, json_loads
from r2d2.types import TableProfile
from r2d2.vocabulary import VERIFIED_STATES, EdgeRelation, EdgeState, RunStatus, SaveOutcome, TableStatus

__all__ = ["EdgeRecord", "EdgeRelation", "EdgeState", "EdgeUpsert", "PairDecision", "RunRecord", "RunStatus",
           "SaveOutcome", "StoredDecisions", "TableRecord", "TableStatus"]



@dataclass(frozen=True)
class TableRecord:
    """A table as the catalog knows it."""

    id: int
    location: str
    format: str | None
    status: TableStatus
    fingerprint: str | None
    num_rows: int | None
    num_bytes: int
    num_files: int
    first_seen: datetime
    last_seen: datetime
    gone_at: datetime | None
    profiled_at: datetime | None
    error: str | None
    profile: TableProfile | None
    latency_limit_s: float | None = None
    access_per_day: float | None = None
    root: str | None = None  # the scan root the table was found under (its real path must stay in it)


@dataclass(frozen=True)
class EdgeUpsert:
    """One edge decision to insert or update (keyed by ``(parent_id, child_id)``)."""

    parent_id: int
    child_id: int
    parent_fingerprint: str | None
    child_fingerprint: str | None
    state: EdgeState
    stage: str
    relation: EdgeRelation = "contains"
    multiset: bool | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None


@dataclass(frozen=True)
class EdgeRecord:
    """A stored edge "parent contains child", with both tables' locations."""

    id: int
    parent_id: int
    child_id: int
    parent_location: str
    child_location: str
    parent_fingerprint: str | None
    child_fingerprint: str | None
    state: EdgeState
    stage: str
    relation: EdgeRelation
    multiset: bool | None
    evidence: dict[str, Any]
    stale: bool
    run_id: int | None
    updated_at: datetime

    @property
    def verified(self) -> bool:
        """Established by exact verification or by transitivity (state ``verified`` or ``inferred``)."""
        return self.state in VERIFIED_STATES

    @property
    def fraction(self) -> float | None:
        """An ``overlaps`` edge's share of the child's distinct rows found in the parent (evidence
        ``overlap``); None for every other relation."""
        return overlap_fraction(self.relation, self.evidence)

    @property
    def except_columns(self) -> tuple[str, ...]:
        """The child's generated key columns left out of a ``contains`` (empty: contained on every column)."""
        return except_columns(self.evidence)

    @property
    def deletable(self) -> bool:
        """Whether the child may be deleted and rebuilt from the parent on this edge (:func:`deletable`)."""
        return deletable(self.state, self.relation, self.evidence)


# What an edge's evidence says, for a record and for the API's pages rendered without records.

def overlap_fraction(relation: str, evidence: Mapping[str, Any]) -> float | None:
    value = evidence.get("overlap") if relation == "overlaps" else None
    return None if value is None else float(value)


def except_columns(evidence: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(evidence.get("except_columns") or ())


def deletable(state: str, relation: str, evidence: Mapping[str, Any]) -> bool:
    """An exact containment or duplicate, verified or inferred. Overlaps and containments except
    generated keys are report-only: the child's rows cannot be rebuilt exactly from the parent."""
    return state in VERIFIED_STATES and relation != "overlaps" and not except_columns(evidence)


@dataclass(frozen=True)
class PairDecision:
    """The stored decision about one ordered pair, as a detection run reuses or compares it.

    The evidence stays the stored JSON text until it is read: a lake has tens of thousands of
    metadata-pruned pairs whose evidence a re-run only compares with what it decided again, and
    decoding all of it cost more than the rest of the query."""

    parent_id: int
    child_id: int
    state: EdgeState
    stage: str
    relation: EdgeRelation
    multiset: bool | None
    evidence_json: str

    @cached_property
    def evidence(self) -> dict[str, Any]:
        return dict(json_loads(self.evidence_json) or {})

    def same_evidence(self, evidence: dict[str, Any]) -> bool:
        # Equal text is equal evidence; other text (another key order, a JSONB rendering) is decoded.
        return json_dumps(evidence) == self.evidence_json or self.evidence == evidence


@dataclass(frozen=True)
class StoredDecisions:
    """What :meth:`~r2d2.catalog.edges.EdgesRepository.valid_pair_decisions` finds: the decisions a detect
    may reuse or compares with its own, and the ``settled`` pairs (metadata-pruned, of the current decision
    version) as parent -> children, which it takes as they are without loading them."""

    decisions: dict[tuple[int, int], PairDecision]
    settled: dict[int, frozenset[int]]


@dataclass(frozen=True)
class RunRecord:
    """One pipeline run."""

    id: int
    kind: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    params: dict[str, Any]
    progress: dict[str, Any]
    summary: dict[str, Any]
    errors: list[Any]
    pid: int | None
    host: str | None

    @property
    def stages(self) -> list[Any]:
        """A detect's funnel (``summary["stages"]``: one entry per stage); empty for other kinds."""
        stages = self.summary.get("stages")
        return stages if isinstance(stages, list) else []
