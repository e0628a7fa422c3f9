"""The optimizer's input: tables, verified edges, prices and the rebuild-latency model.

Units used throughout :mod:`r2d2.optimize`:

* bytes are bytes; ``1 GB = 1e9 bytes`` (decimal, as cloud price lists count);
* money is in the currency of :class:`Prices` (USD by default), per month when it recurs;
* time is in seconds (latencies, limits) except the compute price, which is per hour.

Cost model (DESIGN, section Optimizer). For table *i* and edge *j → i* ("*j* contains *i*"):

* ``keep_i``  = ``s_i / 1e9 * storage_per_gb_month``         money / month, storage of a kept table;
* ``recipe_ij`` = ``recipe_bytes_ij / 1e9 * storage_per_gb_month``  money / month, recipe storage;
* ``t_ij``    = ``throughput.latency(scan_bytes_ij)``          seconds, estimated rebuild latency;
* ``r_ij``    = ``t_ij / 3600 * compute_per_hour``             money per access (one rebuild);
* ``access_ij`` = ``f_i * r_ij``                               money / month;
* ``serve_ij`` = ``recipe_ij + access_ij``                     money / month, the cost of deleting *i*
  and serving it from *j*.

Everything here is pure: no I/O, no catalog. :class:`Problem` validates its input eagerly and raises
:class:`r2d2.errors.PlanError` naming the offending table or edge and the legal range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from r2d2.errors import PlanError

DAYS_PER_MONTH = 365.25 / 12  # accesses per day → per month

BYTES_PER_GB = 1e9
SECONDS_PER_HOUR = 3600.0


def _check_number(value: float, what: str, *, allow_inf: bool = False, positive: bool = False) -> None:
    """Raise PlanError unless ``value`` is a non-negative (or positive) number; ``what`` names it."""
    legal = "a number > 0" if positive else "a number >= 0"
    if allow_inf:
        legal += " (inf allowed)"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PlanError(f"{what} is {value!r}; it must be {legal}") from None
    if (
        math.isnan(number)
        or (math.isinf(number) and not allow_inf)
        or number < 0
        or (positive and number == 0)
    ):
        raise PlanError(f"{what} is {value!r}; it must be {legal}")


@dataclass(frozen=True)
class TableCost:
    """One table as the optimizer sees it.

    ``bytes``: stored size in bytes. ``accesses_per_month``: expected reads per month (each read of a
    deleted table costs one rebuild). ``latency_limit_s``: the longest acceptable rebuild, in seconds
    (``math.inf`` = no limit). Use :meth:`with_defaults` when access logs or limits are missing.
    """

    id: int
    location: str
    bytes: int
    accesses_per_month: float
    latency_limit_s: float

    @classmethod
    def with_defaults(
        cls,
        id: int,
        location: str,
        bytes: int,
        accesses_per_month: float | None,
        latency_limit_s: float | None,
        defaults: CostDefaults,
    ) -> TableCost:
        """A table whose missing access frequency / latency limit come from ``defaults``."""
        return cls(
            id=id,
            location=location,
            bytes=bytes,
            accesses_per_month=(
                defaults.accesses_per_month if accesses_per_month is None else accesses_per_month
            ),
            latency_limit_s=defaults.latency_limit_s if latency_limit_s is None else latency_limit_s,
        )


@dataclass(frozen=True)
class EdgeCost:
    """A verified edge ``parent → child`` ("parent contains child").

    ``scan_bytes``: bytes of the parent a rebuild of the child reads (after column pruning).
    ``recipe_bytes``: stored size of the recipe (a predicate is tiny; a row-hash list is about 24 bytes
    per distinct child row).
    """

    parent: int
    child: int
    scan_bytes: int
    recipe_bytes: int


@dataclass(frozen=True)
class Prices:
    """Prices of the cost model.

    ``storage_per_gb_month``: money per GB (1e9 bytes) stored for one month.
    ``compute_per_hour``: money per hour of the cluster that runs a rebuild.
    """

    storage_per_gb_month: float = 0.023
    compute_per_hour: float = 0.50

    def __post_init__(self) -> None:
        _check_number(self.storage_per_gb_month, "Prices.storage_per_gb_month")
        _check_number(self.compute_per_hour, "Prices.compute_per_hour")

    def storage_cost(self, nbytes: float) -> float:
        """Money per month to store ``nbytes`` bytes."""
        return nbytes / BYTES_PER_GB * self.storage_per_gb_month

    def rebuild_cost(self, latency_s: float) -> float:
        """Money for one rebuild that takes ``latency_s`` seconds of cluster time."""
        return latency_s / SECONDS_PER_HOUR * self.compute_per_hour


@dataclass(frozen=True)
class CostDefaults:
    """Defaults for tables without an access record or a latency limit of their own.

    ``accesses_per_month``: accesses per month assumed for a table with no access record.
    ``latency_limit_s``: the global default latency limit in seconds.
    """

    accesses_per_month: float = 1.0
    latency_limit_s: float = 3600.0

    def __post_init__(self) -> None:
        _check_number(self.accesses_per_month, "CostDefaults.accesses_per_month")
        _check_number(self.latency_limit_s, "CostDefaults.latency_limit_s", allow_inf=True)


@dataclass(frozen=True)
class ThroughputModel:
    """Rebuild latency as a linear function of the bytes scanned: ``overhead_s + scan_bytes / bytes_per_s``.

    ``bytes_per_s``: scan throughput of a rebuild (bytes per second, > 0). ``overhead_s``: fixed cost
    of a rebuild in seconds (job start, planning, writing), >= 0. Calibrate with :meth:`fit`.
    """

    bytes_per_s: float
    overhead_s: float = 0.0

    def __post_init__(self) -> None:
        _check_number(self.bytes_per_s, "ThroughputModel.bytes_per_s", positive=True)
        _check_number(self.overhead_s, "ThroughputModel.overhead_s")

    def latency(self, scan_bytes: float) -> float:
        """Estimated seconds to rebuild a table by scanning ``scan_bytes`` bytes of its parent."""
        return self.overhead_s + scan_bytes / self.bytes_per_s

    @classmethod
    def fit(cls, samples: Sequence[tuple[int, float]]) -> ThroughputModel:
        """Least-squares fit of ``seconds = overhead_s + bytes / bytes_per_s`` to measured rebuilds.

        ``samples``: ``(bytes scanned, seconds taken)`` pairs. Both coefficients are constrained to be
        non-negative (non-negative least squares). Needs at least two distinct byte sizes and a
        positive slope (time must grow with bytes); otherwise raises PlanError.
        """
        from scipy.optimize import nnls

        if len(samples) < 2:
            raise PlanError(f"ThroughputModel.fit needs at least 2 samples, got {len(samples)}")
        arr = np.asarray(samples, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != 2 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise PlanError("ThroughputModel.fit samples must be (bytes >= 0, seconds >= 0) pairs")
        x, y = arr[:, 0], arr[:, 1]
        if np.unique(x).size < 2:
            raise PlanError("ThroughputModel.fit needs samples of at least 2 distinct byte sizes")
        scale = float(x.max())  # condition the design matrix: bytes in units of the largest sample
        design = np.column_stack([np.ones_like(x), x / scale])
        (overhead, slope_scaled), _ = nnls(design, y)
        slope = slope_scaled / scale  # seconds per byte
        if not slope > 0:
            raise PlanError("ThroughputModel.fit: rebuild time does not grow with bytes; cannot fit")
        return cls(bytes_per_s=1.0 / slope, overhead_s=float(overhead))


@dataclass(frozen=True)
class Problem:
    """Tables, verified edges (closed transitively by the caller), prices and the latency model.

    Validated on construction. The optimizer never invents edges: a chain ``A ⊇ B ⊇ C`` lets ``C`` be
    served from ``A`` only if the edge ``A → C`` is given (the containment stage closes edges
    transitively). A ``duplicate`` pair (stored once per unordered pair by ``detect``) must be given
    as two edges, one each way, so that either copy can be the one kept.
    """

    tables: tuple[TableCost, ...]
    edges: tuple[EdgeCost, ...]
    prices: Prices = field(default_factory=Prices)
    throughput: ThroughputModel = field(default_factory=lambda: ThroughputModel(bytes_per_s=200e6))

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", tuple(self.tables))
        object.__setattr__(self, "edges", tuple(self.edges))
        ids: set[int] = set()
        locations: set[str] = set()
        for t in self.tables:
            name = f"table {t.id} ({t.location!r})"
            if t.id in ids:
                raise PlanError(f"{name}: duplicate table id {t.id}; ids must be unique")
            if t.location in locations:
                raise PlanError(f"{name}: duplicate location; locations must be unique")
            ids.add(t.id)
            locations.add(t.location)
            _check_number(t.bytes, f"{name}: bytes")
            _check_number(t.accesses_per_month, f"{name}: accesses_per_month")
            _check_number(t.latency_limit_s, f"{name}: latency_limit_s", allow_inf=True)
        pairs: set[tuple[int, int]] = set()
        for e in self.edges:
            name = f"edge {e.parent} -> {e.child}"
            if e.parent not in ids or e.child not in ids:
                missing = e.parent if e.parent not in ids else e.child
                raise PlanError(f"{name}: table {missing} is not among the problem's tables")
            if e.parent == e.child:
                raise PlanError(f"{name}: self edge; parent and child must differ")
            if (e.parent, e.child) in pairs:
                raise PlanError(f"{name}: given twice; each (parent, child) pair must be unique")
            pairs.add((e.parent, e.child))
            _check_number(e.scan_bytes, f"{name}: scan_bytes")
            _check_number(e.recipe_bytes, f"{name}: recipe_bytes")

    @cached_property
    def arrays(self) -> CostArrays:
        """The cost model as numpy arrays (computed once)."""
        return CostArrays.build(self)

    def baseline_cost(self) -> float:
        """Money per month of keeping every table (no recipe, no rebuild)."""
        return float(self.arrays.keep_cost.sum())


@dataclass(frozen=True, eq=False)
class CostArrays:
    """Vectorised cost model of a :class:`Problem`; positions follow ``problem.tables`` / ``edges``.

    ``keep_cost[i]``: money/month to keep table i. Per edge k (parent ``parent[k]`` → child
    ``child[k]``, both positions): ``latency[k]`` seconds, ``access_cost[k]`` = f_child · r money/month,
    ``recipe_cost[k]`` money/month, ``serve_cost[k]`` = recipe + access, ``feasible[k]`` = latency within
    the child's limit.
    """

    index: dict[int, int]
    keep_cost: NDArray[np.float64]
    parent: NDArray[np.int64]
    child: NDArray[np.int64]
    latency: NDArray[np.float64]
    access_cost: NDArray[np.float64]
    recipe_cost: NDArray[np.float64]
    serve_cost: NDArray[np.float64]
    feasible: NDArray[np.bool_]
    edge_index: dict[tuple[int, int], int]

    @classmethod
    def build(cls, problem: Problem) -> CostArrays:
        prices, tp = problem.prices, problem.throughput
        index = {t.id: k for k, t in enumerate(problem.tables)}
        n_bytes = np.array([t.bytes for t in problem.tables], dtype=float)
        freq = np.array([t.accesses_per_month for t in problem.tables], dtype=float)
        limit = np.array([t.latency_limit_s for t in problem.tables], dtype=float)
        m = len(problem.edges)
        parent = np.fromiter((index[e.parent] for e in problem.edges), dtype=np.int64, count=m)
        child = np.fromiter((index[e.child] for e in problem.edges), dtype=np.int64, count=m)
        scan = np.fromiter((e.scan_bytes for e in problem.edges), dtype=float, count=m)
        recipe = np.fromiter((e.recipe_bytes for e in problem.edges), dtype=float, count=m)
        latency = tp.overhead_s + scan / tp.bytes_per_s
        access = freq[child] * (latency / SECONDS_PER_HOUR * prices.compute_per_hour)
        recipe_cost = recipe / BYTES_PER_GB * prices.storage_per_gb_month
        return cls(
            index=index,
            keep_cost=n_bytes / BYTES_PER_GB * prices.storage_per_gb_month,
            parent=parent,
            child=child,
            latency=latency,
            access_cost=access,
            recipe_cost=recipe_cost,
            serve_cost=recipe_cost + access,
            feasible=latency <= limit[child],
            edge_index={(e.parent, e.child): k for k, e in enumerate(problem.edges)},
        )
