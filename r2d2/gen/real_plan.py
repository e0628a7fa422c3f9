"""The layout of a real-shaped lake, decided before any data exists: families, tables, formats, sizes.

A *family* is a set of tables sharing one schema (and one column-name prefix, so that no table of one
family can contain a table of another):

* ``rich`` families: daily exports plus tables derived from them -- team copies (also in another
  format), projections, filters, projection+filter, a chain A ⊇ B ⊇ C, a weekly rollup, a reloaded
  table (rows repeated), a subset with repeated rows -- and near misses (one changed value, one extra
  row, one column re-paired across rows, the key shifted past the maximum);
* ``plain`` families: daily exports only (different days and keys: none contains another);
* ``single`` tables: one table with a schema of its own.

Sizes are log-normal (a target on-disk size per daily table; derived tables follow their source),
plus a few tables of tens of MB. Formats are balanced towards the spec's shares: copies pick another
format half the time, every other table takes its family's format, and the families placed last are
given the format furthest below its share. This module draws only from the planning generator; each
family carries its own seed, so its data does not depend on which thread builds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from r2d2.gen.real_write import Format

__all__ = ["FamilyPlan", "Role", "TablePlan", "plan_lake"]

Role = Literal["snapshot", "copy", "projection", "filter", "projection_filter", "chain_a", "chain_b", "chain_c",
               "rollup", "rerun", "repeats", "near_changed", "near_extra_row", "near_repaired", "near_shifted"]

_DOMAINS: dict[str, tuple[str, ...]] = {
    "sales": ("orders", "invoices", "refunds", "carts", "shipments", "quotes"),
    "web": ("pageviews", "sessions", "clicks", "signups", "searches"),
    "iot": ("readings", "alerts", "heartbeats", "telemetry"),
    "finance": ("ledger", "payments", "fx_rates", "budgets", "payouts"),
    "hr": ("employees", "timesheets", "payroll", "absences"),
    "marketing": ("campaigns", "ad_spend", "email_sends", "leads"),
    "ops": ("tickets", "deployments", "incidents", "oncall_pages"),
    "supply": ("inventory", "purchase_orders", "suppliers", "stock_moves"),
}
_QUALIFIERS = ("eu", "us", "apac", "raw", "clean", "daily", "v2", "staging", "prod", "agg")
_TEAMS = ("analytics", "data_science", "finance_bi", "growth", "ml_platform", "reporting")
_SUFFIX: dict[str, tuple[str, ...]] = {
    "copy": ("backup", "copy", "mirror"), "projection": ("slim", "summary", "narrow"),
    "filter": ("filtered", "sample", "subset"), "projection_filter": ("extract", "report"),
    "chain_a": ("stage1",), "chain_b": ("stage2",), "chain_c": ("stage3",), "rerun": ("reload",),
    "repeats": ("pending_dedup",), "near_changed": ("fixed",), "near_extra_row": ("patched",),
    "near_repaired": ("rebuilt",), "near_shifted": ("v2",),
}
# derived kinds of a rich family, with their weights
_DERIVED: dict[str, float] = {
    "copy": 2.0, "projection": 1.5, "filter": 1.5, "projection_filter": 1.0, "chain": 0.6, "rollup": 0.6,
    "rerun": 0.5, "repeats": 0.6, "near_changed": 0.5, "near_extra_row": 0.5, "near_repaired": 0.5,
    "near_shifted": 0.4,
}
_FORMATS: tuple[Format, ...] = ("parquet", "hive", "csv", "delta")
_FIRST_DAY = 19_358  # 2023-01-01
MIN_SOURCE_ROWS = 200  # rows of a daily table that other tables derive from


@dataclass(frozen=True)
class TablePlan:
    path: str  # folder relative to the lake root
    role: Role
    fmt: Format = "parquet"
    files: int = 1
    target_bytes: int = 0  # daily tables: size on disk to aim for
    day: int = 0  # daily tables: the export day (days since 1970-01-01)
    sources: tuple[int, ...] = ()  # indices in the family: the table derived from (rollup: all its days)
    stale: bool = False  # Delta: an earlier, overwritten version stays on disk
    empty: bool = False


@dataclass(frozen=True)
class FamilyPlan:
    prefix: str
    kind: Literal["rich", "plain", "single"]
    width: int  # columns of the family's schema
    seed: int
    tables: tuple[TablePlan, ...] = field(default=())

    @property
    def csv_safe(self) -> bool:
        """CSV tables in the family: no decimal, binary or nested columns."""
        return any(t.fmt == "csv" for t in self.tables)

    @property
    def parquet_only(self) -> bool:
        return all(t.fmt in ("parquet", "hive") for t in self.tables)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _day_name(day: int) -> str:
    return str(np.datetime64(day, "D")).replace("-", "")


class _Planner:
    def __init__(self, rng: np.random.Generator, median_bytes: int, sigma: float) -> None:
        self.rng = rng
        self.median = median_bytes
        self.sigma = sigma
        self.fid = 0

    def _size(self) -> int:
        return max(1_000, int(self.median * np.exp(self.sigma * self.rng.standard_normal())))

    def _width(self) -> int:
        return int(np.clip(round(self.rng.lognormal(np.log(8), 0.45)), 3, 40))

    def _dataset(self) -> tuple[str, str, str]:
        domain = _pick(self.rng, tuple(_DOMAINS))
        noun = _pick(self.rng, _DOMAINS[domain])
        self.fid += 1
        prefix = f"{noun.replace('_', '')[:3]}{self.fid}"
        return f"{domain}/{noun}_{_pick(self.rng, _QUALIFIERS)}_{self.fid}", noun, prefix

    def _seed(self) -> int:
        return int(self.rng.integers(2**63))

    def single(self) -> FamilyPlan:
        domain = _pick(self.rng, tuple(_DOMAINS))
        noun = _pick(self.rng, _DOMAINS[domain])
        self.fid += 1
        path = f"{domain}/misc/{noun}_{_pick(self.rng, _QUALIFIERS)}_{self.fid}"
        day = _FIRST_DAY + int(self.rng.integers(0, 900))
        table = TablePlan(path, "snapshot", target_bytes=self._size(), day=day, empty=self.rng.random() < 0.01)
        return FamilyPlan(f"{noun.replace('_', '')[:3]}{self.fid}", "single", self._width(), self._seed(), (table,))

    def plain(self, size: int) -> FamilyPlan:
        dataset, noun, prefix = self._dataset()
        first = _FIRST_DAY + int(self.rng.integers(0, 900))
        tables = tuple(TablePlan(f"{dataset}/{noun}_{_day_name(first + i)}", "snapshot", target_bytes=self._size(),
                                 day=first + i, empty=self.rng.random() < 0.005) for i in range(size))
        return FamilyPlan(prefix, "plain", self._width(), self._seed(), tables)

    def rich(self, budget: int) -> FamilyPlan:
        """Daily tables and derived ones, at most ``budget`` tables in all (at least 2)."""
        rng = self.rng
        dataset, noun, prefix = self._dataset()
        first = _FIRST_DAY + int(rng.integers(0, 900))
        snaps = int(rng.integers(1, 6))
        tables = [TablePlan(f"{dataset}/{noun}_{_day_name(first + i)}", "snapshot", target_bytes=self._size(),
                            day=first + i) for i in range(snaps)]
        kinds = list(_DERIVED)
        weights = np.array([_DERIVED[k] for k in kinds])
        for k in rng.choice(kinds, size=int(rng.integers(2, 8)), replace=False, p=weights / weights.sum()):
            src = int(rng.integers(min(snaps, 2)))
            base = tables[src].path
            if k == "rollup":
                if snaps < 2:
                    continue
                days = tuple(range(int(rng.integers(2, min(snaps, 4) + 1))))
                tables.append(TablePlan(f"{dataset}/{noun}_weekly_{_day_name(first)}", "rollup", sources=days))
            elif k == "chain":
                for role in ("chain_a", "chain_b", "chain_c"):
                    tables.append(TablePlan(f"{base}_{_SUFFIX[role][0]}", role,
                                            sources=(src if role == "chain_a" else len(tables) - 1,)))
            elif k == "copy" and rng.random() < 0.5:
                team = _pick(rng, _TEAMS)
                tables.append(TablePlan(f"teams/{team}/{base.rsplit('/', 1)[1]}_{self.fid}", "copy", sources=(src,)))
            else:
                tables.append(TablePlan(f"{base}_{_pick(rng, _SUFFIX[k])}", k, sources=(src,)))
        tables = tables[:max(budget, 2)]
        # a chain cut short keeps its first links only: sources always precede their tables
        return FamilyPlan(prefix, "rich", self._width(), self._seed(), tuple(tables))


def _plain_size(rng: np.random.Generator) -> int:
    return int(min(2 + np.floor(rng.lognormal(np.log(5), 0.9)), 90))


def _assign_formats(families: list[FamilyPlan], rng: np.random.Generator, shares: dict[Format, float],
                    total: int) -> list[FamilyPlan]:
    want = {f: shares[f] * total for f in _FORMATS}
    have = dict.fromkeys(_FORMATS, 0.0)
    out: list[FamilyPlan | None] = [None] * len(families)

    def family_format() -> Format:
        deficit = np.array([max(want[f] - have[f], 0.0) + 1e-9 for f in _FORMATS])
        return _FORMATS[int(rng.choice(len(_FORMATS), p=deficit / deficit.sum()))]

    def others(fmt: Format) -> Format:
        rest = [f for f in _FORMATS if f != fmt]
        return rest[int(rng.integers(len(rest)))]

    # rich families first (their copies cross formats), then the others by deficit, in random order
    order = sorted(range(len(families)), key=lambda i: (families[i].kind != "rich", rng.random()))
    for i in order:
        fam = families[i]
        base = family_format() if fam.kind != "rich" else (
            "parquet" if rng.random() < 0.6 else family_format())
        tables = []
        for t in fam.tables:
            fmt: Format = base
            if (t.role == "copy" and rng.random() < 0.5) or (t.role != "snapshot" and rng.random() < 0.15):
                fmt = others(base)
            if fmt == "hive" and t.empty:
                fmt = "parquet"  # an empty hive table has no folder to find
            have[fmt] += 1
            tables.append(replace(t, fmt=fmt, stale=fmt == "delta" and rng.random() < 0.15))
        out[i] = replace(fam, tables=tuple(tables))
    return [f for f in out if f is not None]


def _files(rng: np.random.Generator, plan: TablePlan, big: bool) -> int:
    if big:
        return int(rng.integers(4, 13))
    if plan.fmt == "hive" or rng.random() < 0.83:
        return 1
    return int(min(1 + rng.geometric(0.45), 10))


def plan_lake(rng: np.random.Generator, *, tables: int, median_bytes: int, sigma: float, big_tables: int,
              big_bytes: tuple[int, int], related_share: float, singleton_share: float,
              shares: dict[Format, float]) -> list[FamilyPlan]:
    """Families of exactly ``tables`` tables (see the module docstring)."""
    p = _Planner(rng, median_bytes, sigma)
    singles = round(tables * singleton_share)
    families: list[FamilyPlan] = []
    count = 0
    while count < round(tables * related_share) and tables - singles - count >= 2:
        fam = p.rich(tables - singles - count)
        families.append(fam)
        count += len(fam.tables)
    for _ in range(min(singles, tables - count)):
        families.append(p.single())
        count += 1
    while count < tables:
        size = min(_plain_size(rng), tables - count)
        families.append(p.single() if size == 1 else p.plain(size))
        count += size
    families = _assign_formats(families, rng, shares, tables)
    # big tables: daily tables of tens of MB, the first in a rich family (its derived tables follow)
    big: set[tuple[int, int]] = set()
    rich = [i for i, f in enumerate(families) if f.kind == "rich"]
    other = [i for i, f in enumerate(families) if f.kind != "rich"]
    for k in range(big_tables):
        pool = rich if (k == 0 and rich and big_tables >= 2) or not other else other
        fi = pool[int(rng.integers(len(pool)))]
        snaps = [j for j, t in enumerate(families[fi].tables) if t.role == "snapshot" and not t.empty]
        big.add((fi, snaps[0] if fi in rich else snaps[int(rng.integers(len(snaps)))]))
    lo, hi = np.log(big_bytes[0]), np.log(big_bytes[1])
    out = []
    for fi, fam in enumerate(families):
        tables_out = []
        for j, t in enumerate(fam.tables):
            is_big = (fi, j) in big
            size = int(np.exp(rng.uniform(lo, hi))) if is_big else t.target_bytes
            tables_out.append(replace(t, target_bytes=size, files=_files(rng, t, is_big)))
        out.append(replace(fam, tables=tuple(tables_out)))
    return out
