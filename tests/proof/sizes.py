"""How big the proof suites run: CI's size in ``make test``, the claims' size in ``make proof-full``.

``PROOF_SIZE=full`` (what ``make proof-full`` sets) runs every suite at the size the claims in
``docs/security.md`` need; without it (``make test``, CI) the same suites run smaller, so that CI
stays well inside its time. Every number is here, and ``docs/security.md``'s table of sizes is
generated from this module (``make docs``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ProofSize:
    name: str
    hostile_scale: int  # each hostile-callback property runs its base number of examples times this
    crowd: tuple[int, int, int]  # callbacks, refreshes, provisionings started together in one round
    rounds: int  # rounds of the concurrency suite
    every_fault: bool  # the fault matrix: every fault kind of every dependency call (else one kind per call)

    @property
    def writers(self) -> int:
        return self.rounds * sum(self.crowd)


CI = ProofSize("ci", hostile_scale=1, crowd=(3, 3, 2), rounds=30, every_fault=False)
FULL = ProofSize("full", hostile_scale=7, crowd=(8, 7, 5), rounds=50, every_fault=True)
SIZES = {size.name: size for size in (CI, FULL)}


def current() -> ProofSize:
    """The size this run asked for (``PROOF_SIZE``, default ``ci``)."""
    name = os.environ.get("PROOF_SIZE", "ci").strip() or "ci"
    if name not in SIZES:
        raise ValueError(f"PROOF_SIZE must be one of {', '.join(SIZES)}")
    return SIZES[name]


SIZE = current()


def examples(base: int) -> int:
    """A hostile property's number of examples at this size."""
    return base * SIZE.hostile_scale
