"""Which compiled loops stage 3 calls: the ahead-of-time module when it matches the source, else numba.

``make install`` compiles :mod:`r2d2.containment.kernels` twice: into numba's cache, and ahead of time
into an extension module (``_kernels_aot_<digest>``) that loads in milliseconds without importing
numba (numba's import and first call of a cached kernel cost 0.5-0.9 s, most of a lookup's time in a
fresh process), compiled for this machine's processor and for C-contiguous arrays, as numba compiles
them (every caller, :mod:`r2d2.containment.xxh64` and :mod:`r2d2.containment.minhash`, passes such
arrays: pycc checks no layout). But its loops hold the GIL, where numba's release it: a process about to hash in
several threads at once (stage 3's driver tasks, the API server's request threads) calls
:func:`for_threads` and gets numba's kernels from then on. (Stage 3 does not, for a few megabytes of
local files, while numba is not loaded yet: one thread is done before numba would be; see
:func:`threads_need_loading`.) The module's name carries a digest of
``kernels.py`` and of the processor, so a module built from older source or on another machine is
never loaded: the numba kernels are used
instead, as they are where no module could be built (no C compiler) or none can be loaded (a cluster's
workers importing R2D2 from a zip). Both compile the same functions; ``tests/test_xxh64.py`` checks
they agree bit for bit.

Imported by Spark's Python workers: numpy-only.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from types import ModuleType

_loaded: list[ModuleType] = []
_threads = {"on": False}


def host_cpu() -> str:
    """This machine's processor as the kernel ahead of time is built for it: its model and instruction
    set flags (Linux's ``/proc/cpuinfo``, first processor), or "generic" where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            lines = []
            for line in info:
                if not line.strip():
                    break
                key = line.split(":", 1)[0].strip()
                if key in ("vendor_id", "model name", "flags", "Features", "CPU implementer", "CPU part"):
                    lines.append(line.strip())
    except OSError:
        return "generic"
    return "\n".join(lines) or "generic"


def aot_name() -> str:
    """The ahead-of-time module's name for the current ``kernels.py`` on this processor: the module is
    compiled for the processor it was built on (its vector instructions: 4-8x faster MinHash than
    generic code), so one built elsewhere, or from older source, is never loaded."""
    source = Path(__file__).with_name("kernels.py").read_bytes()
    return "_kernels_aot_" + hashlib.sha256(source + host_cpu().encode()).hexdigest()[:12]


def aot() -> ModuleType | None:
    """The ahead-of-time kernels, or None when none matching the source is installed."""
    try:
        return importlib.import_module(f"r2d2.containment.{aot_name()}")
    except (ImportError, OSError):
        return None


def for_threads() -> None:
    """This process hashes in several threads at once from now on: numba's kernels, which release the
    GIL, serve every later call (the ahead-of-time ones would run one thread at a time)."""
    _threads["on"] = True


def threads_need_loading() -> bool:
    """Whether hashing in threads would first load numba and its kernels (0.5-0.75 s): this process has
    used the ahead-of-time kernels only, so far."""
    return not _threads["on"] and kernels().__name__ != "r2d2.containment.kernels"


def kernels() -> ModuleType:
    """The kernels this process uses: the ahead-of-time ones while it hashes in one thread at a time."""
    if _threads["on"]:
        from r2d2.containment import kernels as jit

        return jit
    if not _loaded:
        module = aot()
        if module is None:
            from r2d2.containment import kernels as jit

            module = jit
        _loaded.append(module)
    return _loaded[0]


def warm() -> None:
    """Load the kernels this process uses and run each once (a worker daemon, before it forks)."""
    exercise(kernels())


def exercise(module: ModuleType) -> None:
    """Call each kernel of ``module`` once, on tiny arrays of the types stage 3 passes."""
    import numpy as np

    seeds = np.zeros((1, 1), np.uint64)
    out = np.zeros((1, 1), np.uint64)
    none = np.zeros(0, np.bool_)
    module.hash_long(np.zeros(1, np.uint64), seeds, none, out)
    module.hash_int(np.zeros(1, np.uint32), seeds, none, out)
    module.hash_bytes(np.zeros(2, np.int64), np.zeros(8, np.uint8), seeds, none, out)
    runs = np.zeros(1, np.int64), np.ones(1, np.int64)
    module.fold_long(np.zeros(1, np.uint64), *runs, out, none, True)
    module.fold_bytes(np.zeros(2, np.int64), np.zeros(8, np.uint8), *runs, out, none, True)
    module.grouped_minhash(np.zeros(1, np.uint32), np.array([0, 1], np.int64), np.ones(1, np.uint32),
                           np.zeros(1, np.uint32), np.full((1, 1), 0xFFFFFFFF, np.uint32))
    module.decimal_text(np.zeros(1, np.int64), 2, np.zeros(2, np.int64), np.zeros(21, np.uint8))
    module.count_runs(np.array([0, 1], np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64),
                      np.zeros(1, np.int64), np.zeros(1, np.int64))
    slots = np.empty(2, np.int32)
    module.index_pairs(np.zeros(1, np.int64), np.zeros(1, np.int64), slots)
    module.probe_pairs(slots, np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1, np.int64), np.zeros(1, np.int64),
                       np.zeros(1, np.int64), np.ones(1, np.int64), np.zeros(2, np.int64))
