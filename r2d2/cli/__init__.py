"""The command line (:mod:`r2d2.cli.main`)."""

import os

# numpy's OpenBLAS starts a thread per core at import, and they cost CPU while the commands' own workers
# need it (about 0.1 CPU second a detect): R2D2 does no linear algebra. Set before anything imports numpy;
# a value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
