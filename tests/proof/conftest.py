"""The proof suites: one fixed hypothesis profile, and the session's figures in the terminal summary.

``PROOF_FIGURES_DOC=docs/security.md`` makes the run rewrite the figures table of that page.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

from tests.proof.figures import FIGURES

ROOT = Path(__file__).resolve().parents[2]

# Deterministic in CI: the same examples every run, nothing remembered between runs, no deadline on
# examples that talk to emulators over HTTP. Each test sets its own max_examples to fit the budget.
PROOF = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    # Fixtures here are worlds (moto, emulators) that each example observes through before/after
    # snapshots, not per-example state.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

_started = time.monotonic()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES.ran():
        return
    terminalreporter.section("proof figures")
    for line in FIGURES.summary_lines():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    target = os.environ.get("PROOF_FIGURES_DOC")
    if not target or not FIGURES.ran() or exitstatus != 0:
        return
    command = os.environ.get("PROOF_FIGURES_COMMAND", "pytest tests/proof")
    FIGURES.write_into(ROOT / target, command, time.monotonic() - _started)
