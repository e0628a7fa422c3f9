"""Run Spark work over many items in few jobs, isolating the items that make a job fail.

A lake has many small tables: one job per table would spend its time on job overhead. Work runs
over batches; when a batch job fails, it is split in halves until each failing item is alone, so one
bad table costs a few extra jobs and never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BatchOutcome(Generic[T, R]):
    results: list[R]
    failures: list[tuple[T, str]]


def short_error(exc: BaseException, *, limit: int = 400) -> str:
    """The first meaningful line of a (possibly JVM) exception, without the stack trace."""
    text = str(exc).strip() or type(exc).__name__
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "JVM stacktrace", "---")):
            return line[:limit]
    return text[:limit]


def chunked(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_isolating(items: Sequence[T], job: Callable[[Sequence[T]], R], *, batch_size: int) -> BatchOutcome[T, R]:
    """Run ``job`` on batches of ``items``; bisect failing batches down to the failing items."""
    results: list[R] = []
    failures: list[tuple[T, str]] = []

    def attempt(batch: Sequence[T]) -> None:
        try:
            results.append(job(batch))
        except Exception as exc:
            if len(batch) == 1:
                failures.append((batch[0], short_error(exc)))
                return
            mid = len(batch) // 2
            attempt(batch[:mid])
            attempt(batch[mid:])

    for batch in chunked(items, batch_size):
        attempt(batch)
    return BatchOutcome(results, failures)
