"""Generated key columns, told from metadata: the columns a containment "except" test leaves out.

A derived table often renumbers a row number or a surrogate key (``rownames`` 1..n, a load id, a
generated index): it is then contained in its parent on every column but that one. Such a column is
recognised from its statistics alone: an integer column with no null whose exact min and max span
exactly as many values as the table has rows (``max - min + 1 == rows``), i.e. a dense sequence when
its values are distinct. The statistics cannot tell distinctness, and need not: the column is only
left out of a containment test, and the edge names it (``except_columns``), so what is reported holds
whatever the column is.
"""

from __future__ import annotations

from r2d2.types import Family, TableProfile


def generated_keys(profile: TableProfile) -> tuple[str, ...]:
    """Keys of the columns that look generated (module docstring), in column order; at least one
    other column must remain, and the table must be a possible child (no unsupported column)."""
    rows = profile.num_rows
    if not rows or rows < 2 or any(c.family is Family.UNSUPPORTED for c in profile.columns):
        return ()
    keys = []
    for c in profile.columns:
        st = profile.stats.get(c.key)
        if (c.family is Family.INTEGER and st is not None and st.null_count == 0 and st.min_exact and st.max_exact
                and isinstance(st.min, int) and isinstance(st.max, int) and st.max - st.min + 1 == rows):
            keys.append(c.key)
    return tuple(keys) if len(keys) < len(profile.columns) else ()


def without(profile: TableProfile, keys: tuple[str, ...]) -> TableProfile:
    """The table seen without the columns ``keys`` (same files and rows; the other columns' statistics)."""
    from dataclasses import replace

    drop = set(keys)
    return replace(profile, columns=tuple(c for c in profile.columns if c.key not in drop),
                   stats={k: v for k, v in profile.stats.items() if k not in drop},
                   column_bytes={k: v for k, v in profile.column_bytes.items() if k not in drop})
