"""Compute engine: one lazily created Spark session per process."""

from r2d2.engine.spark import delta_source_available, get_spark, stop_spark

__all__ = ["delta_source_available", "get_spark", "stop_spark"]
