"""Settings: read in one place, validated at start, passed down explicitly.

Values come from keyword arguments, then ``R2D2_*`` environment variables, then the defaults below.
Nothing here runs at import time: call :func:`load_settings` (cached by :func:`get_settings`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from r2d2.errors import ConfigError

DEFAULT_HOME = Path.home() / ".r2d2"
# What is the same for every home on a machine (MinHash permutation parameters): XDG's cache folder.
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "r2d2"


class Settings(BaseSettings):
    """Typed settings of one R2D2 process."""

    model_config = SettingsConfigDict(env_prefix="R2D2_", frozen=True, extra="ignore")

    home: Path = Field(default=DEFAULT_HOME, description="Folder for the embedded catalog and work files.")
    cache_dir: Path = Field(default=DEFAULT_CACHE, description="Machine-wide cache of derived constants "
                            "(MinHash permutation parameters); safe to delete.")
    catalog_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the catalog; default: SQLite file under `home`."
    )
    spark_master: str | None = Field(
        default=None, description="Spark master URL; default: spark-submit's master, else local[*]."
    )
    spark_driver_memory: str = Field(default="4g")
    spark_shuffle_partitions: int = Field(default=8, ge=1)
    spark_conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings.")
    lake_roots: tuple[str, ...] = Field(
        default=(), description="Roots the API may scan and reconstruct into; empty = no restriction (CLI)."
    )
    minhash_num_perm: int = Field(default=64, ge=8, le=1024)
    minhash_seed: int = Field(default=1)
    row_sample_k: int = Field(default=256, ge=1, le=100_000)
    spark_batch_tables: int = Field(default=128, ge=1, description="Tables per batched Spark job.")
    local_hashset_bytes: int = Field(
        default=256 << 20, ge=0,
        description="Hash sets of at most this many bytes are read on the driver with Arrow (stage 3's "
                    "summary, exact verification of a batch) instead of by Spark jobs, and stage-3 batches "
                    "whose row hashes take at most a quarter of it are counted there instead of by a Spark "
                    "shuffle; driver memory needed: about 4x. 0: always Spark.")

    overlap_threshold: float = Field(
        default=0.9, ge=0.0, lt=1.0,
        description="Report an `overlaps` edge (never deletable) when at least this share of a child's distinct "
                    "rows are in the parent, among pairs that pass the schema and min-max stages (0: off).")
    except_keys: bool = Field(
        default=True, description="Also test containment except generated key columns (dense integer "
                                  "sequences); found edges are `contains` with `except_columns`, report-only.")
    local_read_bytes: int = Field(
        default=256 << 20, ge=0,
        description="Content work (stage-3 reads and hashing, CSV profiling) whose data files total at most "
                    "this many bytes runs on the driver with pyarrow and numpy, without Spark (a detect or scan "
                    "that needs no more does not start Spark at all); larger work runs as Spark jobs over "
                    "file work items. Same results either way. 0: always Spark.")
    local_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1,
        description="Driver threads for work run on the driver (default: the machine's cores).")

    @field_validator("catalog_url")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def resolved_catalog_url(self) -> str:
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{(self.home / 'catalog.sqlite').resolve()}"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides and the environment (no caching).

    Invalid values raise :class:`~r2d2.errors.ConfigError` naming each setting and the reason.
    """
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems} (from options or R2D2_* environment variables)") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings from the environment, built on first use."""
    return load_settings()
