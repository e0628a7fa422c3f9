"""Start the Spark session in the background while the driver does other work.

A session takes about 5 s to start. When a run knows early that it will need one (a scan with more
CSV bytes than the driver reads itself), it starts the session in a thread while the metadata work
goes on, and the first real use waits only for what is left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Prestarted(Generic[T]):
    """A factory whose product is being made in a daemon thread; calling it waits for it (an error
    of the background start is raised here, by the caller's call, not lost)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._result: T | None = None
        self._error: BaseException | None = None
        self._handed = False  # the background product was returned once
        self._thread = threading.Thread(target=self._run, name="r2d2-prestart", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._factory()
        except BaseException as exc:  # handed to the caller of __call__
            self._error = exc

    def __call__(self) -> T:
        """The product (waiting for it); later calls ask the factory again, whose own answer it is then
        (:func:`r2d2.engine.spark.get_spark`: the same session, or a new one once its JVM exited)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._handed:
            return self._factory()
        self._handed = True
        assert self._result is not None
        return self._result
