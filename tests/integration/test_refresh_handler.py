"""The deployed handler, ``functions/token_refresh/app.py``, invoked with each event shape it accepts.

Real wiring (boto3 against moto, the refresh RetryPolicy, EventBridge publishing), the Zoho emulator
over HTTP, and the wall clock: the handler is exercised exactly as Lambda would run it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.functions import load_function
from tests.support.constants import PREFIX
from tests.support.fakes import FakeClock, LambdaContext
from tests.support.refresh_world import RefreshWorld
from zoho_aep.domain.errors import BadRequest

APP = Path(__file__).resolve().parents[2] / "functions" / "token_refresh" / "app.py"
CLASSIC = {"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
SCHEDULER = json.loads((APP.parents[2] / "events" / "token_refresh_scheduled.json").read_text())


@pytest.fixture
def clock() -> FakeClock:
    # The handler reads the wall clock; the emulator must agree with it.
    return FakeClock(time.time())


@pytest.fixture
def world(sm: Any, app_secrets_seeded: dict[str, Any], zoho: Any, clock: FakeClock) -> Iterator[RefreshWorld]:
    bench = RefreshWorld(sm, zoho, clock)
    yield bench
    bench.close()


@pytest.fixture
def handler(world: RefreshWorld, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("SECRET_PREFIX", PREFIX)
    monkeypatch.setenv("ZOHO_DATA_CENTERS_JSON", world.zoho.data_centers_json())
    monkeypatch.setenv("REFRESH_WINDOW_MINUTES", "20")
    monkeypatch.setenv("REFRESH_SCHEDULE_MINUTES", "10")
    return load_function("token_refresh")


def _connect_expiring_soon(world: RefreshWorld, name: str = "acme") -> None:
    world.zoho.override_next_token_response(expires_in=600)  # this consent's token lives 10 minutes
    world.consent(name)


@pytest.mark.parametrize("event", [CLASSIC, SCHEDULER, {}], ids=["classic-scheduled-event", "scheduler", "empty"])
def test_each_scheduled_shape_runs_a_cycle(handler: ModuleType, world: RefreshWorld, event: dict[str, Any]) -> None:
    _connect_expiring_soon(world)

    answer = handler.lambda_handler(event, LambdaContext())

    assert answer["trigger"] == "schedule" and answer["status"] == "ok"
    assert answer["connections"] == [
        {
            "connection": "acme",
            "outcome": "refreshed",
            "status": "active",
            "expires_at": int(world.tags("acme")["zoho-aep:expires-at"]),
        }
    ]


def test_a_manual_forced_invoke_refreshes_the_named_connection_only(handler: ModuleType, world: RefreshWorld) -> None:
    world.consent("acme")
    world.consent("beta")
    event = json.loads((APP.parents[2] / "events" / "token_refresh_manual.json").read_text())

    answer = handler.lambda_handler(event, LambdaContext())

    assert (answer["trigger"], answer["forced"], answer["refreshed"]) == ("manual", True, 1)
    assert [c["connection"] for c in answer["connections"]] == ["acme"]
    assert len(world.refresh_calls()) == 1


def test_a_connection_failure_is_reported_not_raised(handler: ModuleType, world: RefreshWorld) -> None:
    tokens = world.consent("acme")
    world.zoho.revoke_consent(tokens.refresh_token)

    answer = handler.lambda_handler({"connections": ["acme"], "force": True}, LambdaContext())

    assert answer["status"] == "ok" and answer["needs_reauth"] == 1
    assert answer["connections"][0]["reason"] == "zoho-consent-revoked"
    assert world.tags("acme")["zoho-aep:status"] == "needs-reauth"


@pytest.mark.filterwarnings("ignore:No application metrics")  # nothing ran, so nothing to count
def test_bad_input_raises_a_clear_error_and_calls_nothing(handler: ModuleType, world: RefreshWorld) -> None:
    world.consent("acme")
    world.secret_reads.clear()

    with pytest.raises(BadRequest) as info:
        handler.lambda_handler({"connections": "acme"}, LambdaContext())

    assert info.value.code == "refresh-request-invalid"
    assert sum(world.secret_reads.values()) == 0 and world.refresh_calls() == []


def test_the_handler_flushes_its_metrics(
    handler: ModuleType, world: RefreshWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    _connect_expiring_soon(world)

    handler.lambda_handler({}, LambdaContext())

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    cycle = next(m for m in emf if "ConnectionsSeen" in m)
    assert (cycle["ConnectionsSeen"], cycle["ConnectionsDue"], cycle["Refreshed"]) == ([1.0], [1.0], [1.0])
    assert cycle["service"] == "token-refresh"
