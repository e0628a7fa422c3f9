"""Scale-curve fits and PNG plots of the benchmark suite's JSON (``bench/results/suite.json``).

Kept apart from :mod:`bench.suite` so the figures can be redrawn from a saved JSON without Spark
(``.venv/bin/python bench/suite.py --render bench/results/suite.json``). matplotlib runs headless
(Agg backend).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["METHODS", "fit_power", "fmt_exponent", "growth_fits", "plot_all", "points"]

#: Method keys in the suite's JSON, in display order, with their labels.
METHODS: dict[str, str] = {
    "r2d2": "R2D2 detect",
    "hash_join": "hash join, no pruning",
    "naive": "naive pairwise anti-join",
    "column_sketch": "column sketch (LSH Ensemble)",
    "floor": "read every table once (floor)",
    "pyarrow_floor": "pyarrow floor (every file, one process)",
    "brute_force": "brute-force exact script",
}
_STYLE = {"r2d2": ("tab:red", "o"), "hash_join": ("tab:blue", "s"), "naive": ("tab:purple", "v"),
          "column_sketch": ("tab:green", "^"), "floor": ("tab:gray", "D"),
          "pyarrow_floor": ("tab:olive", "P"), "brute_force": ("tab:brown", "X")}


def fit_power(x: Sequence[float], y: Sequence[float]) -> dict[str, float] | None:
    """Least squares of ``log y = a + b log x``: the growth exponent ``b``, ``r2`` and the point count.
    None with fewer than two distinct positive x values."""
    pts = [(a, b) for a, b in zip(x, y, strict=True) if a > 0 and b > 0]
    if len({a for a, _ in pts}) < 2:
        return None
    lx = np.log([a for a, _ in pts])
    ly = np.log([b for _, b in pts])
    slope, intercept = np.polyfit(lx, ly, 1)
    pred = intercept + slope * lx
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum((ly - pred) ** 2)) / ss_tot if ss_tot > 0 else 1.0
    return {"exponent": float(slope), "r2": r2, "points": len(pts)}


def points(lakes: Sequence[Mapping[str, Any]], method: str) -> list[dict[str, float]]:
    """(tables, lake bytes, seconds, bytes read) of ``method`` on every generated lake where it ran."""
    out = []
    for lake in lakes:
        m = lake.get("methods", {}).get(method, {})
        if lake.get("kind") == "generated" and "seconds" in m and "error" not in m:
            out.append({"tables": lake["profiled_tables"], "lake_bytes": lake["lake_bytes"],
                        "seconds": m["seconds"], "bytes_read": m["bytes_read"]})
    return out


def growth_fits(lakes: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method: time exponents against tables and against lake bytes, and the bytes-read exponent."""
    fits: dict[str, dict[str, Any]] = {}
    for method in METHODS:
        pts = points(lakes, method)
        if not pts:
            continue
        t, b = [p["tables"] for p in pts], [p["lake_bytes"] for p in pts]
        s, r = [p["seconds"] for p in pts], [p["bytes_read"] for p in pts]
        fits[method] = {"time_vs_tables": fit_power(t, s), "time_vs_bytes": fit_power(b, s),
                        "bytes_read_vs_bytes": fit_power(b, r), "lakes": len(pts)}
    return fits


def _label(method: str, fits: Mapping[str, Any], key: str) -> str:
    f = fits.get(method, {}).get(key)
    return METHODS[method] + (f" (exponent {f['exponent']:.2f})" if f else "")


def _plain_ticks(axis: Any, formatter: Any) -> None:
    """Plain numbers on a log axis. Minor ticks are labelled all when the axis spans at most one decade,
    at 2 and 5 up to two decades, not at all beyond (else they crowd)."""
    from matplotlib.ticker import FuncFormatter

    def minor(v: float, _pos: int) -> str:
        lo, hi = axis.get_view_interval()
        if v <= 0 or lo <= 0 or hi / lo > 100:
            return ""
        mantissa = v / 10 ** math.floor(math.log10(v))
        return f"{v:g}" if hi / lo <= 10 or round(mantissa) in (2, 5) else ""

    axis.set_major_formatter(formatter)
    axis.set_minor_formatter(FuncFormatter(minor))


def plot_all(result: Mapping[str, Any], out: Path) -> list[Path]:
    """Write suite-time.png, suite-bytes.png and suite-optimizer.png under ``out``; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")  # 0.02, 40 rather than 2×10⁻², 4×10¹
    lakes = result.get("lakes", [])
    fits = result.get("fits", {})
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)

    # 1. time against tables and against lake size, log-log, every method
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for method in METHODS:
        pts = points(lakes, method)
        if not pts:
            continue
        color, marker = _STYLE[method]
        axes[0].plot([p["tables"] for p in pts], [p["seconds"] for p in pts], marker=marker, color=color,
                     label=_label(method, fits, "time_vs_tables"))
        axes[1].plot([p["lake_bytes"] / 1e9 for p in pts], [p["seconds"] for p in pts], marker=marker,
                     color=color, label=_label(method, fits, "time_vs_bytes"))
    for ax, xlabel in zip(axes, ("tables in the lake", "lake size (GB)"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_ticks(ax.xaxis, plain)
        _plain_ticks(ax.yaxis, plain)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("wall time (s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Detection time against lake size (generated lakes; one Spark session local[2])")
    fig.tight_layout()
    written.append(out / "suite-time.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    # 2. bytes read against lake bytes
    fig, ax = plt.subplots(figsize=(7, 5))
    all_x: list[float] = []
    for method in METHODS:
        pts = points(lakes, method)
        if not pts:
            continue
        color, marker = _STYLE[method]
        xs = [p["lake_bytes"] / 1e9 for p in pts]
        all_x += xs
        ax.plot(xs, [p["bytes_read"] / 1e9 for p in pts], marker=marker, color=color,
                label=_label(method, fits, "bytes_read_vs_bytes"))
    if all_x:
        lo, hi = min(all_x), max(all_x)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="= lake size")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_ticks(ax.xaxis, plain)
    _plain_ticks(ax.yaxis, plain)
    ax.set_xlabel("lake size (GB, as profiled)")
    ax.set_ylabel("bytes read (GB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Bytes read against lake size")
    fig.tight_layout()
    written.append(out / "suite-bytes.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    # 3. optimizer savings against lake size, both cost scenarios: bytes and money side by side
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for scenario, style in (("default", "o-"), ("no_access", "s--")):
        opt = [(lk["lake_bytes"] / 1e9, lk["optimizer"][scenario]) for lk in lakes
               if lk.get("kind") == "generated" and "savings_bytes" in lk.get("optimizer", {}).get(scenario, {})]
        if not opt:
            continue
        xs = [x for x, _ in opt]
        axes[0].plot(xs, [o["savings_bytes"] / 1e9 for _, o in opt], style, label=f"{scenario} costs")
        axes[1].plot(xs, [o["savings_per_month"] for _, o in opt], style, label=f"{scenario} costs")
    for ax, ylabel in zip(axes, ("storage saved (GB)", "saved per month (USD)"), strict=True):
        ax.set_xscale("log")
        _plain_ticks(ax.xaxis, plain)
        ax.set_xlabel("lake size (GB, as profiled)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    fig.suptitle("Optimizer: savings on R2D2's verified edges (default costs, and with no accesses)")
    fig.tight_layout()
    written.append(out / "suite-optimizer.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written


def fmt_exponent(f: Mapping[str, float] | None) -> str:
    if not f:
        return "–"
    return f"{f['exponent']:.2f} (r² {f['r2']:.2f}, {int(f['points'])} lakes)" if not math.isnan(f["r2"]) else "–"
