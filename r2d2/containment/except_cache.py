"""The except pass's verdicts, kept from one detect to the next.

A verdict on ``(parent, a table's view without its generated keys)`` is a fact about the two tables'
contents, like a sketch: it is stored with the table's sketches (kind ``except``, keyed by the parent's
id), for the table's fingerprint, with the parent's fingerprint and the key columns left out. A later
detect reuses it while both fingerprints and the keys are the same: an incremental run verifies again
only the pairs with a changed table (re-verifying every pair was 15% of a 10-table incremental run).
A changed table's sketches are deleted with its old fingerprint (the catalog), so its verdicts go too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from r2d2.catalog import Catalog
from r2d2.containment.candidates import Pair
from r2d2.containment.hashversion import DECISION_VERSION, HASH_VERSION
from r2d2.types import TableProfile

if TYPE_CHECKING:
    from r2d2.containment.except_pass import ViewPlan

EXCEPT = "except"


@dataclass(frozen=True)
class Verdict:
    """Whether the parent contains the view (with ``multiset`` and the evidence when it does)."""

    contained: bool
    multiset: bool | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def load(catalog: Catalog, plan: ViewPlan, profiles: Mapping[int, TableProfile],
         pairs: Iterable[Pair]) -> dict[Pair, Verdict]:
    """The stored verdicts still valid for these ``(parent, view)`` pairs."""
    wanted = [p for p in pairs if p.parent in profiles and plan.views[p.child][0] in profiles]
    tables = {plan.views[p.child][0] for p in wanted}
    found = catalog.get_sketches_many({t: profiles[t].fingerprint for t in tables}, (EXCEPT,))
    out: dict[Pair, Verdict] = {}
    for pair in wanted:
        table, keys, _ = plan.views[pair.child]
        stored = found.get((table, EXCEPT), {}).get(str(pair.parent))
        if stored is None:
            continue
        meta = stored[1]
        if (meta.get("hash_version") == HASH_VERSION and meta.get("decision_version") == DECISION_VERSION
                and tuple(meta.get("keys") or ()) == keys
                and meta.get("parent_fingerprint") == profiles[pair.parent].fingerprint
                and isinstance(meta.get("contained"), bool) and isinstance(meta.get("evidence", {}), dict)):
            # (anything else, e.g. a row damaged by hand, is no verdict: the pair is checked again)
            out[pair] = Verdict(meta["contained"], meta.get("multiset"), dict(meta.get("evidence") or {}))
    return out


def store(catalog: Catalog, plan: ViewPlan, profiles: Mapping[int, TableProfile],
          verdicts: Mapping[Pair, Verdict]) -> None:
    """Keep ``verdicts`` (on ``(parent, view)`` pairs of ``plan``) for later runs, in one transaction."""
    by_table: dict[int, dict[str, tuple[bytes, dict[str, Any]]]] = {}
    for pair, v in verdicts.items():
        table, keys, _ = plan.views[pair.child]
        by_table.setdefault(table, {})[str(pair.parent)] = (b"", {
            "hash_version": HASH_VERSION, "decision_version": DECISION_VERSION, "keys": list(keys),
            "parent_fingerprint": profiles[pair.parent].fingerprint, "contained": v.contained,
            "multiset": v.multiset, "evidence": v.evidence})
    catalog.put_sketches_many([(t, profiles[t].fingerprint, EXCEPT, items) for t, items in sorted(by_table.items())])
