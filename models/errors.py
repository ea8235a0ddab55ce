"""The one boundary where every command line of the project reports a mistake the user can fix.

Library code raises ordinary exceptions whose message names the bad value and the fix (``ValueError`` for a
bad value, ``FileNotFoundError`` / ``FileExistsError`` / ``PermissionError`` … for files,
``FloatingPointError`` for a diverged run). A command (``python -m pipelines …``, ``python -m analysis …``,
``python -m benchmarks``) runs through `run_command`, which prints such an error as ``error: <message>`` on
stderr and exits 1 — no traceback, unless ``--debug`` is on the command line (or ``SPIKINGMAMBA_DEBUG=1``),
which re-raises it. Anything else (a bug) keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

USER_ERRORS = (ValueError, OSError, FloatingPointError)
"""Exceptions whose message is meant for the user (OSError covers missing, existing, unreadable and full)."""


def debug_requested(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("SPIKINGMAMBA_DEBUG", "") not in ("", "0")


def run_command(main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> int:
    """``main(argv without --debug)``; a `USER_ERRORS` exception becomes one ``error:`` line and exit status 1,
    Ctrl-C exit status 130."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    try:
        status = main([a for a in argv if a != "--debug"])
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"error: {err} (--debug shows the traceback)", file=sys.stderr)
        return 1
    return 0 if status is None else int(status)
