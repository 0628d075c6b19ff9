"""The proof suites: one fixed hypothesis profile, a leak hunt around every test, and the session's
figures in the terminal summary.

``PROOF_FIGURES_DOC=docs/security.md`` makes the run rewrite the figures table of that page.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.proof.figures import FIGURES
from tests.support.aep import ADOBE_CLIENT_SECRET
from tests.support.constants import CLIENT_SECRET, EU_SECRET, STATE_KEY
from tests.support.leaks import LeakHunt

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


@pytest.fixture(autouse=True)
def hunt(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, capsys: Any) -> Iterator[LeakHunt]:
    """Every proof test is also a leak hunt: no seeded secret, and no token, code or state the
    emulators handed out or saw, may appear in any log record (raw, at DEBUG) or any output.
    Tests add what only they see (pages, events, exception messages) with ``hunt.look_in``."""
    caplog.set_level(logging.DEBUG)
    leak_hunt = LeakHunt()
    leak_hunt.secret(CLIENT_SECRET, EU_SECRET, STATE_KEY, ADOBE_CLIENT_SECRET)
    if "zoho" in request.fixturenames:
        leak_hunt.watch_zoho(request.getfixturevalue("zoho"))
    if "adobe" in request.fixturenames:
        leak_hunt.watch_adobe(request.getfixturevalue("adobe"))
    yield leak_hunt
    leak_hunt.look_in_records(caplog.get_records("call"))  # setup is the arrangement, not the product
    captured = capsys.readouterr()
    leak_hunt.look_in("output", captured.out, captured.err)
    leaks = leak_hunt.leaks()
    FIGURES.add(
        leak_scenarios=1,
        leak_haystacks=len(leak_hunt.haystacks),
        leak_needles=len(leak_hunt.all_needles()),
        leaks=len(leaks),
    )
    assert leaks == [], f"secrets found: {leaks[:5]}"


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
