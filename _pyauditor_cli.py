"""The ``pyauditor`` console script's entry point: Ctrl-C is handled from its first instruction.

The console script calls :func:`main` here rather than :func:`pyauditor.cli.main` directly,
because importing pyauditor (httpx, ssl, sqlite3, ...) takes a few hundred milliseconds, and
a Ctrl-C during that would end the command with Python's ``KeyboardInterrupt`` traceback.
This module lives outside the ``pyauditor`` package, so importing it imports nothing else, and
it installs its own handler before importing the command; from then on
:func:`pyauditor.cli.main` handles Ctrl-C itself.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

__all__ = ["main"]


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    # Nothing has been done yet, so there is nothing to clean up or to report but this.
    os.write(2, b"pyauditor: interrupted\n")
    os._exit(130)


def main() -> int:
    """Run the ``pyauditor`` command (see :mod:`pyauditor.cli`) and return its exit status."""
    previous = signal.signal(signal.SIGINT, _interrupted_while_starting)
    from pyauditor.cli import main as run

    signal.signal(signal.SIGINT, previous)
    return run()


if __name__ == "__main__":
    sys.exit(main())
