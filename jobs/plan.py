"""spark-submit entry point: `r2d2 plan` (same options, defaults, output and exit codes; see jobs/_common.py).

    spark-submit --master spark://host:7077 jobs/plan.py --catalog postgresql+psycopg://... [r2d2 plan options]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (spark-submit jobs/plan.py): import the repository's jobs package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs._common import run_command


def main(argv: list[str] | None = None) -> None:
    run_command("plan", argv)


if __name__ == "__main__":
    main()
