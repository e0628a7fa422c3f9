"""The names R2D2 uses for states, kinds, roles and modes: each set defined once, here.

Every other place derives from these (catalog check constraints and records, API schemas, CLI choices,
roles' ranks): a new name is added here and nowhere else, plus a migration when a catalog check
constraint holds the set (as ``0006_overlaps`` for the relation ``overlaps``; ``tests/test_catalog.py``
compares the migrated schema with the models). The upper-case tuples are the ``Literal``'s values, in
order.
"""

from __future__ import annotations

from typing import Literal, get_args

TableStatus = Literal["active", "gone", "error"]
EdgeState = Literal["candidate", "pruned", "verified", "inferred"]
EdgeRelation = Literal["contains", "duplicate", "overlaps"]
RunStatus = Literal["running", "succeeded", "failed"]
#: Runs: one kind per operation (:mod:`r2d2.runs`).
RunKind = Literal["scan", "detect", "plan", "apply", "restore", "reconstruct", "check", "purge", "recover",
                  "calibrate", "lookup", "diff"]
#: API token roles, lowest first: each role may do what the ones before it may.
TokenRole = Literal["reader", "operator", "admin"]
#: How a deletion or a restore moves files (:mod:`r2d2.reconstruct.quarantine`).
MoveMode = Literal["auto", "rename", "copy"]
SaveOutcome = Literal["new", "changed", "unchanged"]
#: A deletion's journaled phases (:mod:`r2d2.catalog.journal`).
DeletionState = Literal["intent", "moving", "quarantined", "purging", "purged", "restoring", "restored",
                        "rolled_back"]

TABLE_STATUSES: tuple[TableStatus, ...] = get_args(TableStatus)
EDGE_STATES: tuple[EdgeState, ...] = get_args(EdgeState)
EDGE_RELATIONS: tuple[EdgeRelation, ...] = get_args(EdgeRelation)
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
RUN_KINDS: tuple[RunKind, ...] = get_args(RunKind)
TOKEN_ROLES: tuple[TokenRole, ...] = get_args(TokenRole)
MOVE_MODES: tuple[MoveMode, ...] = get_args(MoveMode)
DELETION_STATES: tuple[DeletionState, ...] = get_args(DeletionState)
#: Edge states that mean "contains" was established (by exact verification, or by transitivity).
VERIFIED_STATES: tuple[EdgeState, ...] = ("verified", "inferred")
#: Rank of each role (``ROLE_RANK[a] >= ROLE_RANK[b]``: ``a`` may do what ``b`` may).
ROLE_RANK: dict[str, int] = {role: i for i, role in enumerate(TOKEN_ROLES)}
