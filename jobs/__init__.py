"""spark-submit entry points for scheduled runs; thin wrappers over the library."""
