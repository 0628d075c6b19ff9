"""The proof suites' figures: what was tried, and what was lost or leaked (which must stay zero).

Each suite adds to the one :data:`FIGURES` of the test session as it goes. The terminal summary prints
them (``tests/proof/conftest.py``); with ``PROOF_FIGURES_DOC=docs/security.md`` the table between the
``proof-figures`` markers of that page is rewritten from the run, with the command and the date.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

START = "<!-- proof-figures:start -->"
END = "<!-- proof-figures:end -->"


@dataclass
class Figures:
    hostile_inputs: int = 0
    hostile_outcomes: Counter[str] = field(default_factory=Counter)
    typed_failure_inputs: int = 0  # hostile requests and raw answers thrown at the HTTP client
    typed_failure_outcomes: Counter[str] = field(default_factory=Counter)
    fault_cases: int = 0
    faulted_calls: int = 0  # dependency calls that were answered with a fault
    faults_by_function: Counter[str] = field(default_factory=Counter)
    concurrent_rounds: int = 0
    concurrent_writers: int = 0  # callback, refresh and provisioning invocations started together
    committed_writes: int = 0  # compare-and-swap writes that landed on the shared connection
    cas_conflicts: int = 0  # writes that lost a compare-and-swap race, re-read and retried
    writers_gave_up: int = 0  # writers that lost every race and gave up (retryable, nothing lost)
    leak_scenarios: int = 0
    leak_haystacks: int = 0  # texts searched: log lines and records, pages, events, errors, metrics
    leak_needles: int = 0  # distinct secret values looked for
    lost_updates: int = 0
    tokens_lost: int = 0
    leaks: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def ran(self) -> bool:
        return bool(
            self.hostile_inputs
            or self.typed_failure_inputs
            or self.fault_cases
            or self.concurrent_rounds
            or self.leak_scenarios
        )

    def rows(self) -> list[tuple[str, str]]:
        from tests.proof.sizes import SIZE

        outcomes = ", ".join(f"{code} {n}" for code, n in self.hostile_outcomes.most_common())
        functions = ", ".join(f"{name} {n}" for name, n in sorted(self.faults_by_function.items()))
        typed = ", ".join(f"{code} {n}" for code, n in self.typed_failure_outcomes.most_common())
        return [
            ("proof size (`PROOF_SIZE`)", SIZE.name),
            ("hostile callback requests tried (hypothesis)", f"{self.hostile_inputs} ({outcomes})"),
            ("hostile HTTP requests and answers, each typed (hypothesis)", f"{self.typed_failure_inputs} ({typed})"),
            ("fault cases run", f"{self.fault_cases} ({functions})"),
            ("dependency calls answered with a fault", str(self.faulted_calls)),
            (
                "concurrent rounds / writers started / writes committed",
                f"{self.concurrent_rounds} / {self.concurrent_writers} / {self.committed_writes}",
            ),
            ("compare-and-swap races lost, re-read and retried", str(self.cas_conflicts)),
            ("writers that lost every race and gave up cleanly (`secret-write-conflict`)", str(self.writers_gave_up)),
            (
                "leak hunts: scenarios / texts searched / secrets looked for",
                f"{self.leak_scenarios} / {self.leak_haystacks} / {self.leak_needles}",
            ),
            ("updates lost", str(self.lost_updates)),
            ("refresh tokens lost", str(self.tokens_lost)),
            ("secrets leaked", str(self.leaks)),
        ]

    def summary_lines(self) -> list[str]:
        return [f"{label}: {value}" for label, value in self.rows()]

    def markdown(self, command: str, seconds: float) -> str:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            START,
            f"Produced by `{command}` on {when} ({seconds:.0f} s on this machine).",
            "",
            "| figure | value |",
            "| --- | --- |",
            *(f"| {label} | {value} |" for label, value in self.rows()),
            END,
        ]
        return "\n".join(lines)

    def write_into(self, page: Path, command: str, seconds: float) -> None:
        """Replace the marked block of ``page`` with this run's table."""
        text = page.read_text()
        pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"{page} has no {START} ... {END} block")
        page.write_text(pattern.sub(lambda _m: self.markdown(command, seconds), text))


FIGURES = Figures()
