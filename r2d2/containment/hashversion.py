"""The version of the canonical value forms and hashes (:mod:`r2d2.containment.canonical`).

Its own module so that what only compares versions (cached sketches, stored decisions) imports no Spark.
"""

HASH_VERSION = 2  # bump whenever a canonical form changes: cached sketches and decisions are then redone
