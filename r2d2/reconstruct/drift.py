"""`check`: deleted children whose parent's content changed since their recipe pinned it.

For every live deletion (quarantined or purged), the parent's fingerprint on disk is compared with
the recipe's pinned one. A changed parent puts the child at risk (its old content may disappear, e.g.
a Delta VACUUM or a rewrite of files). The child is restored at once, before that can happen:
a quarantined child moves back; a purged child is rebuilt from the pinned parent content when it is
still readable (the pinned Delta version, or the pinned files with their SHA-256). Otherwise the child
is reported *lost-at-risk* with the reason (its recipe, checksum and quarantine history stay in the
catalog).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from r2d2.catalog import Catalog
from r2d2.config import Settings
from r2d2.errors import R2D2Error, SafetyError
from r2d2.lake import confine
from r2d2.reconstruct import recipe as rcp
from r2d2.reconstruct.apply import destructive
from r2d2.reconstruct.restore import restore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class DriftItem:
    location: str
    parent: str
    outcome: str  # restored-from-quarantine | rebuilt-from-pinned-parent | lost-at-risk | failed
    reason: str = ""


@dataclass
class DriftReport:
    checked: int = 0
    items: list[DriftItem] = field(default_factory=list)

    @property
    def at_risk(self) -> list[DriftItem]:
        return [i for i in self.items if i.outcome in ("lost-at-risk", "failed")]

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "items": [asdict(i) for i in self.items]}


def check(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession], *,
          restore_at_risk: bool = True) -> DriftReport:
    """Check every live deletion's parent (holding the destructive lock: it may restore tables)."""
    with destructive(catalog, "check"):
        return _check(catalog, settings, spark_factory, restore_at_risk)


def _check(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession],
           restore_at_risk: bool) -> DriftReport:
    report = DriftReport()
    for d in catalog.list_deletions(states=("quarantined", "purged")):
        report.checked += 1
        rec = catalog.get_recipe(d.recipe_id)
        pin = rec.recipe["parent"]
        try:
            parent_root = catalog.get_table_by_id(rec.parent_id).root
            confine.check(pin["location"], parent_root)
            if rcp.current_fingerprint(pin["location"]) == pin["fingerprint"]:
                continue
        except SafetyError as exc:  # the parent now lies behind a link out of its root: not read
            report.items.append(DriftItem(d.location, pin["location"], "failed", str(exc)))
            continue
        item = DriftItem(d.location, pin["location"], "lost-at-risk", "parent changed")
        report.items.append(item)
        if d.state == "purged":
            problem = rcp.pinned_parent_problem(pin, parent_root)
            if problem:
                item.reason = f"parent changed and {problem}"
                continue
        if not restore_at_risk:
            item.outcome = "at-risk"
            continue
        try:
            how = restore(catalog, settings, spark_factory, d.location)
            item.outcome = "restored-from-quarantine" if how == "quarantine" else "rebuilt-from-pinned-parent"
            item.reason = "parent changed"
        except R2D2Error as exc:
            item.outcome, item.reason = "failed", str(exc)
    return report
