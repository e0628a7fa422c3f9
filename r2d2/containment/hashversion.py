"""The versions of the canonical value forms and hashes (:mod:`r2d2.containment.canonical`), and of
stored decisions.

Its own module so that what only compares versions (cached sketches, stored decisions) imports no Spark.
"""

HASH_VERSION = 2  # bump whenever a canonical form changes: cached sketches and decisions are then redone
# Bump when decisions stored by earlier releases (pair decisions, except-keys verdicts) may be wrong for a
# reason their tables' fingerprints do not show: each pair is then checked once more, on the cached
# sketches. That includes any change to the min-max rules: a pair they ruled out stays settled (never
# pruned again) while its two fingerprints and this version are the same. 2: a hash set missing a file
# read as a short set; signatures of two MinHash seeds compared; a containment except keys stored in place
# of a pair whose verification failed.
DECISION_VERSION = 2
