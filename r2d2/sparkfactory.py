"""The one lazy Spark factory of the CLI, the API and the demo.

Commands and requests that need no Spark must not import pyspark or start a JVM: they get this factory,
which starts the process's session (:func:`r2d2.engine.get_spark`) on its first call only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from r2d2.config import Settings


def lazy_spark(settings: Settings) -> Callable[[], SparkSession]:
    """A factory of the process's Spark session for ``settings``, created on first call."""

    def make() -> SparkSession:
        from r2d2.engine import get_spark

        return get_spark(settings)

    return make
