"""The deployed handlers of ``functions/zoho_export/app.py``: the schedule and direct invokes, the unit
queue's worker, Zoho's Bulk Read callback. Real wiring against moto (Secrets Manager, S3, SQS,
EventBridge), the Zoho emulator over HTTP, the wall clock."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.functions import load_function
from tests.support.constants import PREFIX, STATE_KEY
from tests.support.export_world import BUCKET, US_ORG, ExportWorld
from tests.support.fakes import FakeClock, LambdaContext, http_event
from zoho_aep.domain.callbacks import callback_url
from zoho_aep.domain.connection import TAG_PATH
from zoho_aep.domain.errors import BadRequest
from zoho_aep.domain.export import ExportUnit

EVENTS = Path(__file__).resolve().parents[2] / "events"
CALLBACK_BASE = "https://abc123.execute-api.us-east-1.amazonaws.com/zoho/bulk-callback"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def world(
    sm: Any, s3: Any, app_secrets_seeded: Any, zoho: Any, clock: FakeClock, tmp_path: Any
) -> Iterator[ExportWorld]:
    export_world = ExportWorld(sm, s3, zoho, clock, tmp_path)
    export_world.consent("acme")
    zoho.crm.add_many(US_ORG, "Leads", 4, modified_at=clock() - 3600)
    yield export_world
    export_world.close()


@pytest.fixture
def queue(aws: None) -> str:
    from zoho_aep.adapters import aws as clients

    return str(clients.client("sqs").create_queue(QueueName="zoho-aep-export-units")["QueueUrl"])


@pytest.fixture
def handler(world: ExportWorld, queue: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> ModuleType:
    for key, value in {
        "SECRET_PREFIX": PREFIX,
        "ZOHO_DATA_CENTERS_JSON": world.zoho.data_centers_json(),
        "EXPORT_BUCKET": BUCKET,
        "EXPORT_QUEUE_URL": queue,
        "EXPORT_CALLBACK_URL": CALLBACK_BASE,
        "EXPORT_MODULES": "Leads",
        "TMPDIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(key, value)
    return load_function("zoho_export")


def queued(queue: str) -> list[dict[str, Any]]:
    from zoho_aep.adapters import aws as clients

    answer = clients.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_a_direct_invoke_exports_the_connection_now(handler: ModuleType, world: ExportWorld) -> None:
    answer = handler.lambda_handler(json.loads((EVENTS / "zoho_export_manual.json").read_text()), LambdaContext())

    assert answer["trigger"] == "manual" and answer["status"] == "ok"
    (export,) = answer["exports"]
    assert (export["connection"], export["module"], export["outcome"], export["records"]) == (
        "acme",
        "Leads",
        "completed",
        4,
    )
    assert len(world.files()) == 1
    # Each job told Zoho where to call back: a URL this stack signed for the run.
    (create,) = world.zoho.calls("/crm/bulk/v8/read", "POST")
    assert create.json()["callback"]["url"].startswith(CALLBACK_BASE + "?unit=")


def test_the_schedule_sends_each_unit_of_every_s3_path_connection_to_the_queue(
    handler: ModuleType, world: ExportWorld, queue: str
) -> None:
    world.store.set_tags("acme", {TAG_PATH: "amazon-s3"})
    scheduled = json.loads((EVENTS / "zoho_export_scheduled.json").read_text())

    answer = handler.lambda_handler(scheduled, LambdaContext())

    assert (answer["trigger"], answer["enqueued"]) == ("schedule", 1)
    assert [(m["connection"], m["module"], m["full"]) for m in queued(queue)] == [("acme", "Leads", False)]
    assert world.files() == []  # the workers export, not the planner


def test_the_worker_runs_the_units_its_records_name(handler: ModuleType, world: ExportWorld) -> None:
    body = json.dumps(
        {"kind": "zoho-aep/export-unit", "connection": "acme", "module": "Leads", "full": False, "attempt": 0}
    )

    answer = handler.unit_handler({"Records": [{"body": body}, {"body": "garbage"}]}, LambdaContext())

    assert answer["units"] == 1 and answer["completed"] == 1
    assert len(world.files()) == 1


def test_a_unit_that_is_not_over_sends_itself_back_with_a_delay(
    handler: ModuleType, world: ExportWorld, queue: str
) -> None:
    world.zoho.crm.job_seconds = 600  # Zoho takes its time
    body = json.dumps(
        {"kind": "zoho-aep/export-unit", "connection": "acme", "module": "Leads", "full": False, "attempt": 0}
    )

    answer = handler.unit_handler({"Records": [{"body": body}]}, LambdaContext())

    assert answer["exports"][0]["outcome"] == "pending" and answer["enqueued"] == 1
    assert queued(queue) == []  # delayed: not visible yet


@pytest.mark.parametrize(
    "event",
    [{"connections": ["acme"]}, {"connection": "acme", "full": "yes"}, {"connection": "../x"}, {"modules": ["Leads"]},
     {"connection": "acme", "modules": ["Notes"]}, []],
)  # fmt: skip
def test_a_refused_invoke_touches_nothing(handler: ModuleType, world: ExportWorld, event: Any) -> None:
    before = len(world.zoho.calls("/crm/"))

    with pytest.raises(BadRequest):
        handler.lambda_handler(event, LambdaContext())

    assert world.keys("") == [] and len(world.zoho.calls("/crm/")) == before


def test_zohos_callback_with_a_url_this_stack_signed_queues_the_unit(handler: ModuleType, queue: str) -> None:
    url = callback_url(CALLBACK_BASE, STATE_KEY, ExportUnit("acme", "Leads"), "run-1", time.time())
    query = url.split("?", 1)[1]
    body = '{"job_id":"1","state":"COMPLETED"}'
    event = http_event(
        query, method="POST", path="/zoho/bulk-callback", route_key="POST /zoho/bulk-callback", body=body
    )

    answer = handler.callback_handler(event, LambdaContext())

    assert answer["statusCode"] == 202
    assert [(m["connection"], m["module"]) for m in queued(queue)] == [("acme", "Leads")]


@pytest.mark.parametrize(
    ("query", "method", "status"),
    [("unit=forged.token", "POST", 403), ("", "POST", 403), ("unit=a&unit=b", "POST", 403), ("unit=x", "GET", 405)],
)
def test_a_callback_this_stack_did_not_sign_queues_nothing(
    handler: ModuleType, queue: str, query: str, method: str, status: int
) -> None:
    event = http_event(query, method=method, path="/zoho/bulk-callback", route_key="POST /zoho/bulk-callback")

    answer = handler.callback_handler(event, LambdaContext())

    assert answer["statusCode"] == status and queued(queue) == []
