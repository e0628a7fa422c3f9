"""Settings: read in one place, validated at start, passed down explicitly.

Values come from keyword arguments, then ``R2D2_*`` environment variables, then the defaults below.
List settings (``R2D2_LAKE_ROOTS``) take JSON (``["/a", "s3://b/c"]``) or comma-separated values
(``/a,s3://b/c``); mapping settings (``R2D2_SPARK_CONF``, ``R2D2_STORAGE_OPTIONS``) take JSON, and
``R2D2_SPARK_CONF`` also ``key=value,key=value``.
Nothing here runs at import time: call :func:`load_settings` (cached by :func:`get_settings`).

On-disk layout (each a setting; every one but the journal may be an object-store URI, so that the
executors of a cluster share it): the work folder (hash sets, scratch; ``<home>/work``), the recipe
store (``<home>/recipes``), the quarantine (``<home>/quarantine``) and the journal of destructive
operations (``<home>/quarantine/_journal``: a local folder, fsync'ed).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from r2d2.errors import ConfigError

DEFAULT_HOME = Path.home() / ".r2d2"
# What is the same for every home on a machine (MinHash permutation parameters): XDG's cache folder.
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "r2d2"
LOCAL_SHUFFLE_PARTITIONS = 8  # on a session R2D2 builds itself (never on spark-submit's or the user's)
LOCAL_DRIVER_MEMORY = "4g"


def _json_or(value: Any, split: Any) -> Any:
    """A setting's raw text as JSON when it is JSON, else ``split(text)``; other values as they are."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return split("")
    if text[0] in "[{\"":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return split(text)


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _comma_pairs(text: str) -> dict[str, str]:
    out = {}
    for part in _comma_list(text):
        key, sep, val = part.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {part!r}")
        out[key.strip()] = val.strip()
    return out


def _no_pairs(text: str) -> dict[str, Any]:
    if text:
        raise ValueError("expected a JSON object")
    return {}


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
    spark_driver_memory: str | None = Field(
        default=None, description=f"Driver memory of a session R2D2 builds (default {LOCAL_DRIVER_MEMORY}); "
                                  "under spark-submit, spark-submit's.")
    spark_shuffle_partitions: int | None = Field(
        default=None, ge=1, description=f"Shuffle partitions of a session R2D2 builds (default "
                                        f"{LOCAL_SHUFFLE_PARTITIONS}); an existing or spark-submit session "
                                        "keeps its own unless this is set.")
    spark_conf: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="Extra Spark settings (applied where the user gave none).")
    spark_jars_dir: Path | None = Field(
        default=None, description="Folder of the Spark jars fetched by `make jars` (delta-spark, hadoop-aws), "
                                  "put on the class path of a session R2D2 builds; default: the project's "
                                  "`jars/` folder when it exists.")
    spark_worker_daemon: str | None = Field(
        default="r2d2.containment.pydaemon",
        description="Python module local Spark sessions fork their workers from (R2D2's preloads stage 3's "
                    "modules); empty: Spark's own daemon. Never set on a cluster's executors.")
    lake_roots: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Roots the API may scan and reconstruct into; empty = no restriction (CLI)."
    )
    storage_options: Annotated[dict[str, dict[str, str]], NoDecode] = Field(
        default_factory=dict, repr=False,  # may hold keys: kept out of repr (tracebacks, logs)
        description="Options of object-store filesystems by scheme, e.g. {\"s3\": {\"endpoint_override\": "
                    "\"http://minio:9000\", \"region\": \"eu-west-1\"}} (pyarrow's S3FileSystem / GcsFileSystem / "
                    "AzureFileSystem arguments); credentials default to each store's standard chain. Never logged.")
    work_folder: str | None = Field(
        default=None, description="Work folder (hash sets, scratch): a local path or a URI (s3://, gs://, "
                                  "abfss://) that a cluster's executors share; default <home>/work.")
    recipes_folder: str | None = Field(default=None, description="Recipe store; default <home>/recipes.")
    quarantine_folder: str | None = Field(default=None, description="Quarantine; default <home>/quarantine.")
    journal_folder: Path | None = Field(
        default=None, description="Journal of destructive operations (local); default <home>/quarantine/_journal.")
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
                    "file work items, except stage 3 over local files under a local Spark master (local[N]), "
                    "which stays on the driver. Same results either way. 0: always Spark.")
    local_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1,
        description="Driver threads for work run on the driver (default: the machine's cores).")

    @field_validator("lake_roots", mode="before")
    @classmethod
    def _roots(cls, value: Any) -> Any:
        return _json_or(value, _comma_list)

    @field_validator("spark_conf", mode="before")
    @classmethod
    def _conf(cls, value: Any) -> Any:
        return _json_or(value, _comma_pairs)

    @field_validator("storage_options", mode="before")
    @classmethod
    def _storage(cls, value: Any) -> Any:
        return _json_or(value, _no_pairs)

    @field_validator("work_folder", "recipes_folder", "quarantine_folder")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        from r2d2.lake.fs import normalize_location

        return normalize_location(value.strip()) if value and value.strip() else None

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
    def work_location(self) -> str:
        """The work folder as a location (local path or URI): hash sets and scratch live there."""
        return self.work_folder or str((self.home / "work").absolute())

    @property
    def work_dir(self) -> Path:
        """A local work folder (scratch that never leaves the driver: the work folder when it is local)."""
        from r2d2.lake.fs import is_uri

        if self.work_folder and not is_uri(self.work_folder):
            return Path(self.work_folder)
        return self.home / "work"

    @property
    def recipes_location(self) -> str:
        return self.recipes_folder or str((self.home / "recipes").absolute())

    @property
    def quarantine_location(self) -> str:
        return self.quarantine_folder or str((self.home / "quarantine").absolute())

    @property
    def journal_dir(self) -> Path:
        return self.journal_folder or self.home / "quarantine" / "_journal"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides and the environment (no caching).

    Invalid values raise :class:`~r2d2.errors.ConfigError` naming each setting and the reason.
    The storage options become this process's (:func:`r2d2.lake.fs.set_storage_options`): every
    location the lake layer opens uses them.
    """
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        # The values themselves are not repeated: storage options may hold credentials.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems} (from options or R2D2_* environment variables)") from exc
    from r2d2.lake.fs import set_storage_options

    set_storage_options(settings.storage_options)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings from the environment, built on first use."""
    return load_settings()
