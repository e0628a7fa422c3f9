"""The batch jobs are the CLI: each ``jobs/<command>.py`` runs ``r2d2 <command>`` with its arguments.

Same options, defaults, output and exit codes as the command (:mod:`r2d2.cli.exits`: 0 success, 1
finished with per-table errors, 2 usage error, 3 stopped by an error, 4 internal error, 75 another
process holds the operation's lock). The global options (``--catalog``, ``--home``, ``--spark-master``,
``--log-format``) may come anywhere in a job's arguments. Spellings of the earlier jobs are still
accepted, with a note on stderr: ``--json`` (``--format json``), and for ``apply.py`` ``--plan N``
(the plan id argument) and ``--execute`` (``--yes``; without it the job is a ``--dry-run``, as before).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

GLOBAL_OPTIONS = ("--catalog", "--home", "--spark-master", "--log-format")


def split_globals(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``argv`` as (global options with their values, the rest), each in its order."""
    globals_: list[str] = []
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            if "=" in arg or i + 1 >= len(args):
                globals_.append(arg)
            else:
                globals_ += [arg, args[i + 1]]
                i += 1
        else:
            rest.append(arg)
        i += 1
    return globals_, rest


def _legacy(command: str, args: list[str]) -> list[str]:
    notes = []
    if "--json" in args:
        args = [("--format" if a == "--json" else a) for a in args]
        args.insert(args.index("--format") + 1, "json")
        notes.append("--json is now --format json")
    if command == "apply" and "--plan" in args:
        i = args.index("--plan")
        plan_id = args[i + 1] if i + 1 < len(args) else ""
        args = [*args[:i], *args[i + 2:]]
        execute = "--execute" in args
        args = [a for a in args if a != "--execute"]
        args = [plan_id, *args, "--yes" if execute else "--dry-run"]
        notes.append("--plan N [--execute] is now PLAN_ID [--yes | --dry-run]")
    for note in notes:
        print(f"r2d2 job: {note}", file=sys.stderr)
    return args


def run_command(command: str, argv: Sequence[str] | None = None) -> None:
    """Run ``r2d2 <command> argv...`` in this process and exit with its code."""
    from r2d2.cli.main import main

    globals_, rest = split_globals(sys.argv[1:] if argv is None else argv)
    main([*globals_, command, *_legacy(command, rest)])
