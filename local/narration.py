"""The story and the logs apart: ``make demo`` and ``make local`` narrate on the terminal, while the
product's JSON log lines and EMF metric lines (which the handlers write to stdout, as in Lambda) go to
a log file whose path is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / ".local-sandbox"  # git-ignored

Say = Callable[..., None]


@contextmanager
def logs_to_file(name: str) -> Iterator[tuple[Say, Say, Path]]:
    """Redirect stdout and stderr to ``.local-sandbox/<name>.log``; yield ``say`` and ``shout`` (the
    terminal's stdout and stderr) and the log file's path. Load the handlers inside the block: their
    loggers bind to the stream they find when they are made."""
    LOG_DIR.mkdir(exist_ok=True)
    path = LOG_DIR / f"{name}.log"
    console, errors = sys.stdout, sys.stderr
    with path.open("w", encoding="utf-8") as log:

        def say(*parts: object) -> None:
            print(*parts, file=console, flush=True)

        def shout(*parts: object) -> None:
            print(*parts, file=errors, flush=True)

        sys.stdout = sys.stderr = log
        try:
            yield say, shout, path
        finally:
            sys.stdout, sys.stderr = console, errors
