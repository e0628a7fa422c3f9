"""Safe deletion and lossless reconstruction (DESIGN, section Safety).

* :mod:`.checksum` — order-independent multiset checksum of a table (canonical 128-bit row hashes);
* :mod:`.arrowtypes` — the child's physical Arrow types, to cast rebuilt data back;
* :mod:`.recipe` — build a recipe (pinned parent, projection, selection, checksum) and pin parents;
* :mod:`.rebuild` — execute a recipe, write Parquet or Delta, verify content and schema;
* :mod:`.faults` — the one fault-injection point (``R2D2_FAULT``) used by the crash tests;
* :mod:`.journal` — the local, fsync'ed journal file of each quarantine move;
* :mod:`.quarantine` — crash-safe, resumable moves (atomic rename, or copy + fsync + verify + unlink);
* :mod:`.apply` — apply a plan: re-verify, recipe, rebuild once, journaled move to quarantine;
* :mod:`.restore` — restore, reconstruct to a path, purge, recover;
* :mod:`.drift` — ``check``: deleted children of parents whose content changed;
* :mod:`.calibrate` — time real rebuilds and fit the throughput model.
"""
