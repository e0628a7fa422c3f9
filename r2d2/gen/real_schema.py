"""Schemas and column values of the real-shaped lake (:mod:`r2d2.gen.real`).

A family's schema is a tuple of :class:`ColumnSpec`: a realistic column name behind the family's
prefix (``ord17_customer_id``: the prefix keeps any two families' column sets disjoint, so no table of
one family can contain a table of another), a *kind* (what the values look like), an Arrow type and
the family-wide value parameters (category pool, integer range, null and NaN/-0.0 rates). Every schema
has a unique integer key, an export-date column (constant per daily table, so two exports of a family
never contain each other) and a column that hive partitioning can use (letters-only categories or
small non-negative integers, no nulls: such values read back from ``key=value`` folders with the same
type family).

Values are generated with numpy and Arrow kernels, never row by row. Floats always carry a fraction
(so a CSV export infers back as floating point), strings are never empty and always hold a letter
(so a CSV export infers back as strings, and an empty field is only ever a null).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["ColumnSpec", "Kind", "bytes_per_row", "column_values", "file_overhead", "sample_schema",
           "snapshot_table"]

Kind = Literal["key", "day", "fk", "level", "count", "category", "code", "text", "email", "money",
               "measure", "flag", "date", "ts", "digest", "tags"]

T = TypeVar("T")
DAY_SECONDS = 86_400

_STEMS: dict[Kind, tuple[str, ...]] = {
    "key": ("id", "record_id", "event_id", "order_id", "txn_id", "row_id", "line_id"),
    "day": ("export_date", "event_date", "business_date", "snapshot_date", "load_date", "ds"),
    "fk": ("customer_id", "user_id", "account_id", "store_id", "product_id", "vendor_id", "campaign_id",
           "device_id", "employee_id", "warehouse_id"),
    "level": ("priority", "rating", "tier", "severity", "score_bucket", "age_band"),
    "count": ("quantity", "clicks", "impressions", "items", "retries", "page_views", "units_sold"),
    "category": ("country", "status", "channel", "currency", "region", "device_type", "plan", "source"),
    "code": ("sku", "ticket_ref", "postcode", "batch_code", "promo_code", "invoice_no"),
    "text": ("url", "user_agent", "description", "shipping_address", "referrer", "comment"),
    "email": ("email", "contact_email", "billing_email"),
    "money": ("amount", "price", "revenue", "unit_cost", "balance", "spend", "discount"),
    "measure": ("temperature", "latency_ms", "score", "ratio", "humidity", "weight_kg", "ctr"),
    "flag": ("is_active", "is_test", "has_discount", "is_bot", "opted_in", "is_refund"),
    "date": ("signup_date", "due_date", "birth_date", "ship_date", "contract_start"),
    "ts": ("created_at", "updated_at", "event_ts", "processed_at", "ingested_at", "logged_at"),
    "digest": ("checksum", "payload_hash", "session_key", "row_digest"),
    "tags": ("tags", "labels"),
}
_POOLS: dict[str, tuple[str, ...]] = {
    "country": ("DE", "FR", "US", "GB", "NL", "ES", "IT", "PL", "SE", "JP", "BR", "IN", "CA", "AU"),
    "status": ("active", "pending", "closed", "failed", "refunded", "shipped", "cancelled"),
    "channel": ("web", "ios", "android", "email", "partner", "store"),
    "currency": ("EUR", "USD", "GBP", "JPY", "CHF", "SEK"),
    "region": ("north", "south", "east", "west", "central", "emea", "apac", "amer"),
    "device_type": ("desktop", "mobile", "tablet", "tv", "console"),
    "plan": ("free", "basic", "pro", "team", "enterprise"),
    "source": ("organic", "paid", "referral", "social", "direct", "newsletter"),
}
_OS = ("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 14_4", "X11; Linux x86_64",
       "iPhone; CPU iPhone OS 17_4 like Mac OS X", "Linux; Android 14; Pixel 8")
_STREETS = ("Main Street", "Station Road", "Park Avenue", "Church Lane", "Mill Road", "High Street")
_CITIES = ("Berlin", "Lyon", "Austin", "Leeds", "Utrecht", "Sevilla", "Osaka", "Porto Alegre")
_MAIL_DOMAINS = ("example.com", "mail.example.org", "corp.example.net")
_ZONES: tuple[str | None, ...] = (None, None, "UTC", "Europe/Berlin", "America/New_York")
# Weights of the optional kinds of a schema; kinds CSV cannot hold are left out of CSV families.
_OPTIONAL: dict[Kind, float] = {
    "fk": 1.4, "level": 0.6, "count": 1.0, "category": 1.2, "code": 0.6, "text": 0.7, "email": 0.4,
    "money": 1.2, "measure": 1.0, "flag": 0.8, "date": 0.6, "ts": 1.2, "digest": 0.4, "tags": 0.15,
}
_NOT_CSV: set[Kind] = {"digest", "tags"}
# Compressed Parquet bytes per value of each kind, measured with pyarrow's defaults (snappy,
# dictionary) on 5,000-row tables; used only to turn a target table size into a row count.
_BYTES_PER_VALUE: dict[Kind, float] = {
    "key": 5.5, "day": 0.1, "fk": 3.0, "level": 0.5, "count": 1.0, "category": 0.6, "code": 7.3,
    "text": 14.8, "email": 8.5, "money": 5.8, "measure": 5.0, "flag": 0.3, "date": 4.0, "ts": 8.0,
    "digest": 17.3, "tags": 1.3,
}
FILE_OVERHEAD = 200  # bytes of an empty Parquet file (magic, footer) ...
COLUMN_OVERHEAD = 280  # ... plus this many per column


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a family's schema and the parameters its values follow in every table."""

    name: str
    kind: Kind
    type: pa.DataType
    null_rate: float = 0.0
    pool: tuple[str, ...] = ()  # category and tag values
    high: int = 0  # integer kinds: values in [0, high] (fk: [1, high])
    special_rate: float = 0.0  # measure: share of NaN, and of -0.0 / 0.0
    precise: bool = False  # ns timestamps with sub-microsecond digits (Parquet-only families)

    @property
    def partitionable(self) -> bool:
        """Whether hive partitioning by this column reads back in the same type family."""
        return self.kind in ("category", "level") and self.null_rate == 0.0


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _column(rng: np.random.Generator, prefix: str, kind: Kind, stem: str, *, csv_safe: bool,
            parquet_only: bool, partition: bool = False) -> ColumnSpec:
    name = f"{prefix}_{stem}"
    nulls = _pick(rng, (0.0, 0.0, 0.01, 0.05, 0.15))
    if kind == "key":
        return ColumnSpec(name, kind, pa.int64() if rng.random() < 0.8 else pa.int32())
    if kind in ("day", "date"):
        return ColumnSpec(name, kind, pa.date32(), 0.0 if kind == "day" else nulls)
    if kind == "fk":
        t = _pick(rng, (pa.int32(), pa.int64(), pa.int64(), pa.int16()))
        return ColumnSpec(name, kind, t, nulls, high=_pick(rng, (50, 1_000, 30_000, 30_000)))
    if kind == "level":
        return ColumnSpec(name, kind, _pick(rng, (pa.int8(), pa.int16())), 0.0 if partition else nulls,
                          high=int(rng.integers(2, 7)))
    if kind == "count":
        return ColumnSpec(name, kind, _pick(rng, (pa.int32(), pa.int64())), nulls, high=_pick(rng, (5, 50, 800)))
    if kind == "category":
        pool = _POOLS[stem]
        k = int(rng.integers(2, min(len(pool), 6 if partition else 12) + 1))
        chosen = tuple(pool[i] for i in rng.choice(len(pool), size=k, replace=False))
        return ColumnSpec(name, kind, pa.string(), 0.0 if partition else nulls, pool=chosen)
    if kind in ("code", "text", "email"):
        return ColumnSpec(name, kind, pa.string(), nulls, high=_pick(rng, (500, 20_000, 10**6)))
    if kind == "money":
        options = (pa.float64(), pa.float32()) if csv_safe else (
            pa.decimal128(12, 2), pa.decimal128(18, 4), pa.float64(), pa.float32())
        return ColumnSpec(name, kind, _pick(rng, options), nulls, high=_pick(rng, (2_000, 100_000)))
    if kind == "measure":
        return ColumnSpec(name, kind, _pick(rng, (pa.float64(), pa.float64(), pa.float32())), nulls,
                          special_rate=_pick(rng, (0.0, 0.02, 0.05)), high=_pick(rng, (1, 100, 5_000)))
    if kind == "flag":
        return ColumnSpec(name, kind, pa.bool_(), nulls)
    if kind == "ts":
        unit = _pick(rng, ("ms", "us", "us", "ns"))
        return ColumnSpec(name, kind, pa.timestamp(unit, tz=_pick(rng, _ZONES)), nulls,
                          precise=parquet_only and unit == "ns")
    if kind == "digest":
        t = pa.binary(16) if parquet_only and rng.random() < 0.5 else pa.binary()
        return ColumnSpec(name, kind, t, nulls)
    if kind == "tags":
        return ColumnSpec(name, kind, pa.list_(pa.string()), nulls, pool=_POOLS["source"])
    raise ValueError(f"unknown column kind {kind!r}")


def sample_schema(rng: np.random.Generator, prefix: str, *, csv_safe: bool, parquet_only: bool, nested: bool,
                  width: int) -> tuple[ColumnSpec, ...]:
    """A schema of ``width`` (>= 3) columns: key, export date, a partitionable column, then others.

    ``csv_safe``: no decimal, binary or nested column; ``parquet_only``: fixed-size binary and ns
    timestamps with sub-microsecond digits allowed; ``nested``: a list column allowed (a table
    holding one is never contained, so families with planted relations leave it out).
    """
    used: set[str] = set()

    def col(kind: Kind, partition: bool = False) -> ColumnSpec | None:
        free = [s for s in _STEMS[kind] if s not in used]
        if not free:  # every name of this kind is taken: draw another kind
            return None
        stem = _pick(rng, free)
        used.add(stem)
        return _column(rng, prefix, kind, stem, csv_safe=csv_safe, parquet_only=parquet_only, partition=partition)

    first = [col("key"), col("day"), col("category" if rng.random() < 0.7 else "level", partition=True)]
    cols = [c for c in first if c is not None]
    kinds = [k for k in _OPTIONAL if not (csv_safe and k in _NOT_CSV) and ((nested and parquet_only) or k != "tags")]
    weights = np.array([_OPTIONAL[k] for k in kinds])
    for _ in range(10 * width):
        if len(cols) >= width:
            break
        c = col(kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))])
        if c is not None:
            cols.append(c)
    rest = [cols[i] for i in 1 + rng.permutation(len(cols) - 1)]
    return (cols[0], *rest)  # the key first, as most exports have it


def bytes_per_row(schema: tuple[ColumnSpec, ...]) -> float:
    return sum(_BYTES_PER_VALUE[c.kind] for c in schema)


def file_overhead(schema: tuple[ColumnSpec, ...]) -> int:
    return FILE_OVERHEAD + COLUMN_OVERHEAD * len(schema)


# ---------------------------------------------------------------------------------------------------
# values


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _text(ints: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(ints), pa.string())


def _take(pool: tuple[str, ...], rng: np.random.Generator, n: int, skew: float = 1.0) -> pa.Array:
    w = 1.0 / np.arange(1, len(pool) + 1) ** skew  # a few frequent values, a long tail
    return pa.array(pool, pa.string()).take(pa.array(rng.choice(len(pool), size=n, p=w / w.sum())))


def _decimal(cents: np.ndarray, t: pa.Decimal128Type, scale_from: int) -> pa.Array:
    unscaled = cents * 10 ** (t.scale - scale_from)
    words = np.empty(2 * len(unscaled), dtype=np.int64)  # little-endian 128-bit: low word, sign word
    words[0::2] = unscaled
    words[1::2] = np.where(unscaled < 0, -1, 0)
    return pa.Array.from_buffers(t, len(unscaled), [None, pa.py_buffer(words.tobytes())])


def _fraction(values: np.ndarray, step: float) -> np.ndarray:
    whole = values == np.round(values)  # a whole float would be written "12" and read back as an integer
    return np.where(whole, values + step, values)


def _values(spec: ColumnSpec, rng: np.random.Generator, n: int, day: int, id_start: int) -> pa.Array:
    kind, t = spec.kind, spec.type
    if kind == "key":
        return pa.array(np.arange(id_start, id_start + n, dtype=np.int64), t)
    if kind == "day":
        return pa.array(np.full(n, day, dtype=np.int32)).cast(pa.date32())
    if kind == "fk":
        return pa.array(rng.integers(1, spec.high + 1, n), t)
    if kind == "level":
        return pa.array(rng.integers(0, spec.high + 1, n), t)
    if kind == "count":
        return pa.array(np.minimum(rng.geometric(1.0 / (1 + spec.high / 4), n) - 1, 30_000), t)
    if kind == "category":
        return _take(spec.pool, rng, n)
    if kind == "code":
        letters = ("SKU-", "TCK-", "PO", "B", "PRM-", "INV-")
        head = _take(letters[:2] if spec.high < 1000 else letters, rng, n)
        return _join(head, pc.utf8_lpad(_text(rng.integers(0, spec.high, n)), 6, "0"))
    if kind == "email":
        return _join("user", _text(rng.integers(0, spec.high, n)), "@", _take(_MAIL_DOMAINS, rng, n))
    if kind == "text":
        return _long_text(spec.name, rng, n, spec.high)
    if kind == "money":
        cents = rng.integers(1, spec.high * 100, n)
        cents = np.where(cents % 100 == 0, cents + 1, cents)
        if pa.types.is_decimal(t):
            return _decimal(cents, t, 2)
        return pa.array((cents / 100.0).astype(np.float64), pa.float64()).cast(t)
    if kind == "measure":
        v = _fraction(np.round(rng.normal(spec.high, spec.high / 3 + 1, n), 3), 0.125)
        if spec.special_rate:
            u = rng.random(n)
            v[u < spec.special_rate] = np.nan
            v[(u >= spec.special_rate) & (u < 1.5 * spec.special_rate)] = -0.0
            v[(u >= 1.5 * spec.special_rate) & (u < 2 * spec.special_rate)] = 0.0
        return pa.array(v, pa.float64()).cast(t)
    if kind == "flag":
        return pa.array(rng.random(n) < 0.3)
    if kind == "date":
        return pa.array((day - rng.integers(0, 3_000, n)).astype(np.int32)).cast(pa.date32())
    if kind == "ts":
        assert isinstance(t, pa.TimestampType)
        us = day * DAY_SECONDS * 1_000_000 + rng.integers(0, DAY_SECONDS * 1_000_000, n)
        if t.unit == "ms":
            raw = us // 1_000
        elif t.unit == "us":
            raw = us
        else:
            raw = us * 1_000 + (rng.integers(0, 1_000, n) if spec.precise else 0)
        return pa.array(raw.astype(np.int64), t)
    if kind == "digest":
        width = t.byte_width if isinstance(t, pa.FixedSizeBinaryType) else 16
        fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(rng.bytes(width * n))])
        return fixed if isinstance(t, pa.FixedSizeBinaryType) else fixed.cast(pa.binary())
    if kind == "tags":
        lengths = rng.integers(0, 4, n)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), _take(spec.pool, rng, int(offsets[-1])))
    raise ValueError(f"unknown column kind {kind!r}")


def _long_text(name: str, rng: np.random.Generator, n: int, high: int) -> pa.Array:
    """Strings of 65-140 bytes sharing long prefixes, so that their bounds are truncated where a writer
    truncates (delta-rs keeps 64-byte prefixes in the Delta log, the max rounded up; pyarrow 26 writes
    whole values in Parquet footers)."""
    ints = _text(rng.integers(0, high, n))
    if name.endswith(("url", "referrer")):
        return _join("https://shop.example.com/catalog/", _take(_POOLS["device_type"], rng, n), "/items/", ints,
                     "?utm_source=", _take(_POOLS["source"], rng, n), "&utm_medium=", _take(_POOLS["channel"], rng, n))
    if name.endswith("user_agent"):
        return _join("Mozilla/5.0 (", _take(_OS, rng, n), ") AppleWebKit/537.36 (KHTML, like Gecko) Chrome/",
                     _text(rng.integers(110, 125, n)), ".0.", ints, ".0 Safari/537.36")
    if name.endswith("address"):
        return _join("Building ", ints, ", ", _take(_STREETS, rng, n), ", Business Park North, ",
                     _take(_CITIES, rng, n), ", delivery instructions: ring the bell at reception")
    return _join("Customer feedback #", ints, ": the ", _take(_POOLS["channel"], rng, n),
                 " order arrived, status ", _take(_POOLS["status"], rng, n), ", follow-up by the support team")


def column_values(spec: ColumnSpec, rng: np.random.Generator, n: int, *, day: int, id_start: int) -> pa.Array:
    """``n`` values of ``spec`` for a table exported on ``day`` (days since 1970) with keys from ``id_start``."""
    arr = _values(spec, rng, n, day, id_start)
    if spec.null_rate > 0:
        mask = rng.random(n) < spec.null_rate
        if mask.any():
            arr = pc.if_else(pa.array(mask), pa.nulls(n, arr.type), arr)
    return arr


def snapshot_table(schema: tuple[ColumnSpec, ...], rng: np.random.Generator, n: int, *, day: int,
                   id_start: int) -> pa.Table:
    """One daily table of a family: every column of ``schema``, ``n`` rows."""
    return pa.table({c.name: column_values(c, rng, n, day=day, id_start=id_start) for c in schema})
