"""Concurrency: the three functions write one connection at the same moment, round after round.

Each round starts, behind one barrier, re-authorizations through the callback edge (real consents at
the Zoho emulator), forced refresh cycles and provisioning runs (``sizes.py``: 3, 3 and 2 in CI; 8,
7 and 5 in ``make proof-full``), all on the connection ``acme``, with production's compare-and-swap
store (jittered back-off included). Every write the store commits is marked with its own id (inside
the product's own read-modify-write), so after the round each committed write must still be visible
in the secret: a write that a later one overwrote without seeing it would have lost its mark. Then, for the round:

- zero lost updates: every committed mark present, none twice; exactly one ``AWSCURRENT`` version;
- every connected callback's link nonce is recorded (a replay stays refused);
- the stored refresh token is live at Zoho, the stored access token is alive and belongs to it;
- the refresh tokens Zoho considers live are exactly the ones the secret holds (none lost, none
  left behind), and after the provisioning run the authorized event would start, AEP holds the
  current one in its single base connection and every replaced one is revoked;
- the tags agree with the secret.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.proof.figures import FIGURES
from tests.proof.sizes import SIZE
from tests.support.aep import Bench, adobe_fixture, bench_fixture  # noqa: F401
from tests.support.callback import CallbackHarness
from tests.support.constants import CLIENT_ID, PREFIX
from tests.support.refresh_world import RefreshWorld
from zoho_aep.adapters.http import HttpClient
from zoho_aep.adapters.secrets import ConnectionStore, WriteResult
from zoho_aep.adapters.zoho.oauth import ZohoOAuthClient
from zoho_aep.domain.connection import Connection
from zoho_aep.domain.links import verify_state
from zoho_aep.domain.times import epoch_of as _epoch
from zoho_aep.usecases.provision import provision_connection
from zoho_aep.usecases.refresh.cycle import refresh_due_connections
from zoho_aep.wiring import CALLBACK_POLICY, REFRESH_POLICY

ROUNDS = SIZE.rounds
# A round of the full crowd takes a few seconds on two cores; the suite's default per-test timeout
# is for CI's size.
pytestmark = pytest.mark.timeout(120 + 10 * ROUNDS)
CALLBACKS, REFRESHES, PROVISIONS = SIZE.crowd
MARK = "_proof_writes"
# A writer that lost every compare-and-swap race (8 attempts) gives up with this retryable code. With
# twenty writers on one secret that happens; it must be clean: nothing lost, nothing left behind
# (every round checks that), and a retry works (the next round's writers do).
GAVE_UP = "secret-write-conflict"


class WriteLedger:
    """Marks every write ``store`` makes with a unique id, and remembers the ones it committed."""

    def __init__(self, store: ConnectionStore) -> None:
        self.committed: list[str] = []
        self._lock = threading.Lock()
        write = store.write

        def marked_write(
            connection: str, mutate: Callable[[Connection | None], Connection | None], **kwargs: Any
        ) -> WriteResult:
            mark = uuid.uuid4().hex

            def marked(current: Connection | None) -> Connection | None:
                new = mutate(current)
                if new is not None:  # a key this version does not know: kept by every writer
                    new.extra[MARK] = [*new.extra.get(MARK, []), mark]
                return new

            result = write(connection, marked, **kwargs)
            if result.changed:
                with self._lock:
                    self.committed.append(mark)
            return result

        store.write = marked_write  # type: ignore[method-assign]


@dataclass
class Crowd:
    """One connection and the three functions that write it, sharing one production store."""

    cb: CallbackHarness
    refresher: RefreshWorld
    bench: Bench
    store: ConnectionStore
    ledger: WriteLedger
    outcomes: dict[str, list[str]] = field(default_factory=dict)
    last_round: list[tuple[str, str]] = field(default_factory=list)

    def value(self) -> dict[str, Any]:
        return self.cb.store.require("acme").connection.to_value()

    def live_tokens(self) -> set[str]:
        return set(self.cb.zoho.live_refresh_tokens(CLIENT_ID))

    def round(self) -> tuple[list[str], int]:
        """Start every writer at once; returns the nonces of the connected callbacks and the writes."""
        links = [self.cb.link("acme") for _ in range(CALLBACKS)]
        queries = [self.cb.consent(link) for link in links]
        committed_before = len(self.ledger.committed)
        writers: list[tuple[str, Callable[[], str]]] = [
            *(("callback", lambda q=q: self._callback(q)) for q in queries),
            *(("refresh", self._refresh) for _ in range(REFRESHES)),
            *(("provisioning", self._provision) for _ in range(PROVISIONS)),
        ]
        barrier = threading.Barrier(len(writers))
        results: list[tuple[str, str, str | None]] = []
        errors: list[str] = []

        def run(kind: str, writer: Callable[[], str], query: str | None) -> None:
            barrier.wait()
            try:
                results.append((kind, writer(), query))
            except BaseException:  # reported below, in the test's thread
                errors.append(traceback.format_exc())

        threads = [
            threading.Thread(target=run, args=(kind, writer, queries[i] if kind == "callback" else None))
            for i, (kind, writer) in enumerate(writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == [] and len(results) == len(writers), "\n".join(errors)
        self.last_round = sorted((kind, outcome) for kind, outcome, _ in results)
        for kind, outcome, _ in results:
            self.outcomes.setdefault(kind, []).append(outcome)
        nonces = [
            self._nonce(query) for kind, outcome, query in results if kind == "callback" and outcome == "connected"
        ]
        FIGURES.add(concurrent_rounds=1, concurrent_writers=len(writers))
        return nonces, len(self.ledger.committed) - committed_before

    def _callback(self, query: str) -> str:
        return self.cb.page_code(self.cb.call(query)) or "no-code"

    def _refresh(self) -> str:
        outcome = refresh_due_connections(self.refresher.deps, force=True, names=["acme"]).outcome_of("acme")
        return outcome.outcome if outcome.reason != GAVE_UP else f"{outcome.outcome}: {GAVE_UP}"

    def _provision(self) -> str:
        result = provision_connection(self.bench.deps, "acme")
        return "provisioned" if result.ok else result.reason_code or "failed"

    def _nonce(self, query: str | None) -> str:
        from tests.support.constants import STATE_KEY

        state = dict(parse_qsl(query or ""))["state"]
        return verify_state(STATE_KEY, state, self.cb.clock()).nonce


@pytest.fixture
def crowd(bench: Bench, sm: Any, zoho: Any, clock: Any) -> Iterator[Crowd]:
    def back_off(seconds: float) -> None:  # production's jittered back-off, counted
        FIGURES.add(cas_conflicts=1)
        time.sleep(seconds)

    store = ConnectionStore(PREFIX, sleep=back_off)
    ledger = WriteLedger(store)
    cb = CallbackHarness(zoho=zoho, sm=sm, clock=clock)
    refresher = RefreshWorld(sm, zoho, clock)
    cb.deps.store = refresher.deps.store = bench.deps.store = store
    # Production's patience with Zoho: eight writers on two cores must not time out on the emulator.
    cb.deps.zoho = ZohoOAuthClient(HttpClient(CALLBACK_POLICY))
    refresher.deps.zoho = ZohoOAuthClient(HttpClient(REFRESH_POLICY))
    try:
        yield Crowd(cb, refresher, bench, store, ledger)
    finally:
        refresher.close()
        cb.close()


def test_many_writers_on_one_connection_lose_no_update_and_no_token(crowd: Crowd) -> None:
    assert crowd.cb.connect("acme")["statusCode"] == 200
    assert provision_connection(crowd.bench.deps, "acme").ok

    for _ in range(ROUNDS):
        crowd.cb.clock.advance(11 * 60)  # a new Zoho rate-limit window: grant codes and mints
        nonces, writes = crowd.round()
        FIGURES.add(committed_writes=writes)

        value = crowd.value()
        marks = value.get(MARK, [])
        lost = set(crowd.ledger.committed) - set(marks)
        FIGURES.add(lost_updates=len(lost) + len(marks) - len(set(marks)))
        assert lost == set() and len(marks) == len(set(marks)), f"{len(lost)} committed write(s) lost"
        versions = crowd.cb.sm.list_secret_version_ids(SecretId=f"{PREFIX}/connections/acme")["Versions"]
        assert sum("AWSCURRENT" in v.get("VersionStages", []) for v in versions) == 1
        assert set(nonces) <= set(value["state_nonces"]), "a connected link's nonce went missing"

        current = value["refresh_token"]
        zoho = crowd.cb.zoho
        assert zoho.access_token_valid(value["access_token"])
        assert zoho.access_token_refresh_token(value["access_token"]) == current
        held = {current, value.get("replaced_refresh_token"), *value.get("revoke_pending", [])} - {None}
        live = crowd.live_tokens()
        FIGURES.add(tokens_lost=len(held - live))
        assert held == live, f"held and live tokens differ after a round of {crowd.last_round}"
        tags = crowd.cb.tags()
        assert tags["zoho-aep:status"] == "active"
        assert int(tags["zoho-aep:expires-at"]) == _epoch(value["expires_at"])

        # What the round's authorized events start once the crowd has gone.
        assert provision_connection(crowd.bench.deps, "acme").ok
        (connection,) = crowd.bench.adobe.connections_in("prod")
        current = crowd.value()["refresh_token"]
        assert connection["auth"]["params"]["refreshToken"] == current
        assert crowd.live_tokens() == {current}

    gave_up = [o for outcomes in crowd.outcomes.values() for o in outcomes if GAVE_UP in o]
    FIGURES.add(writers_gave_up=len(gave_up))
    assert set(crowd.outcomes["callback"]) <= {"connected", GAVE_UP}, crowd.outcomes["callback"]
    assert set(crowd.outcomes["refresh"]) <= {"refreshed", "superseded", f"error: {GAVE_UP}"}
    assert set(crowd.outcomes["provisioning"]) <= {"provisioned", "aep-provisioning-in-progress", GAVE_UP}
    assert "connected" in crowd.outcomes["callback"] and "provisioned" in crowd.outcomes["provisioning"]
    assert len(gave_up) * 10 < len([o for outcomes in crowd.outcomes.values() for o in outcomes]), "mostly won"
