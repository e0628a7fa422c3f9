"""Synthetic lakes with planted, complete ground truth (tests, ``r2d2 demo``, benchmarks).

* :func:`generate_lake` / :class:`LakeSpec` — families of Parquet / CSV / Delta / hive tables with every
  containment case and near miss (see :data:`CASES`);
* :func:`generate_real_lake` / :class:`RealLakeSpec` — a lake shaped like a real one: thousands of mostly
  small tables in many schemas, formats and type families, with planted relations and near misses;
  :func:`lake_shape` measures a generated lake;
* :func:`generate_tpch_lake` — TPC-H tables (``tpchgen-cli``) plus derived tables;
* :class:`Truth` / :func:`exact_oracle` — the expected edges and a brute-force exact oracle;
  :func:`beyond_oracle` / :func:`full_oracle` — overlaps with their exact fraction and containments
  except generated keys, brute force as well; :func:`r2d2.gen.evaluate.score_kinds` scores each kind.
"""

from r2d2.gen.beyond import beyond_oracle, full_oracle
from r2d2.gen.lake import (
    BEYOND_CASES,
    CASES,
    SNAPSHOT_BEYOND_CASES,
    SNAPSHOT_CASES,
    GeneratedLake,
    LakeSpec,
    generate_lake,
    read_table,
)
from r2d2.gen.real import RealLakeSpec, generate_real_lake
from r2d2.gen.shape import lake_shape
from r2d2.gen.tpch import generate_tpch_lake
from r2d2.gen.truth import ExpectedEdge, Truth, exact_oracle

__all__ = [
    "BEYOND_CASES", "CASES", "SNAPSHOT_BEYOND_CASES", "SNAPSHOT_CASES", "ExpectedEdge", "GeneratedLake", "LakeSpec",
    "RealLakeSpec", "Truth", "beyond_oracle", "exact_oracle", "full_oracle", "generate_lake", "generate_real_lake",
    "generate_tpch_lake", "lake_shape", "read_table",
]
