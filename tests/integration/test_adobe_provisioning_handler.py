"""The provisioning function's edge: which invocations it accepts, what it answers, when it raises.

Also: the deployed handler module runs end to end on the sample events, and no secret reaches a
log record, an event, a tag or an answer.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.emulators.adobe import FLOW_PREFIX
from local.emulators.base import Fault
from local.functions import load_function
from tests.support.aep import ADOBE_CLIENT_SECRET, Bench, adobe_fixture, adobe_secret, bench_fixture  # noqa: F401
from tests.support.constants import CLIENT_SECRET, EU_SECRET, PREFIX
from tests.support.fakes import LambdaContext
from zoho_aep.domain import events as ev
from zoho_aep.domain.errors import ProvisioningWillRetry
from zoho_aep.edges.adobe_provisioning import ProvisioningApp, parse_trigger
from zoho_aep.usecases.aep_path import PathDeps

ROOT = Path(__file__).resolve().parents[2]
AUTHORIZED_EVENT = json.loads((ROOT / "events/adobe_provisioning_event.json").read_text())
MANUAL_EVENT = json.loads((ROOT / "events/adobe_provisioning_manual.json").read_text())


def app(bench: Bench) -> ProvisioningApp:
    return ProvisioningApp(lambda: PathDeps(bench.deps), logger=bench.logger)


def never_built() -> Any:
    raise AssertionError("bad input must not build any adapter")


# ---- input --------------------------------------------------------------------------------------------
def test_the_authorized_event_names_the_connection() -> None:
    assert parse_trigger(AUTHORIZED_EVENT) == ("acme", None)


def test_a_direct_invoke_names_the_connection() -> None:
    assert parse_trigger(MANUAL_EVENT) == ("acme", None)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ([], "provisioning-input-invalid"),
        ({}, "provisioning-input-invalid"),
        ({"connection": "acme", "force": True}, "provisioning-input-invalid"),
        ({"connection": "Not A Name"}, "connection-name-invalid"),
        ({"connection": 7}, "connection-name-invalid"),
        ({**AUTHORIZED_EVENT, "detail-type": ev.BASE_CONNECTION_PROVISIONED}, "provisioning-event-unsupported"),
        ({**AUTHORIZED_EVENT, "source": "someone-else"}, "provisioning-event-unsupported"),
        ({**AUTHORIZED_EVENT, "detail": {}}, "connection-name-invalid"),
        ({**AUTHORIZED_EVENT, "detail": "acme"}, "connection-name-invalid"),
    ],
)
def test_bad_input_is_answered_clearly_and_touches_nothing(event: Any, reason: str) -> None:
    logger = logging.getLogger("bad-input-test")

    answer = ProvisioningApp(never_built, logger=logger).handle(event)

    assert answer["ok"] is False
    assert (answer["reason_code"], answer["retryable"]) == (reason, False)
    assert answer["message"]


# ---- answers ------------------------------------------------------------------------------------------
def test_success_returns_the_result(bench: Bench) -> None:
    bench.authorize()

    answer = app(bench).handle(AUTHORIZED_EVENT)

    assert answer["ok"] is True and answer["created"] is True
    assert answer["base_connection_id"] == bench.tags()["aep:base-connection-id"]
    assert answer["module_count"] == len(bench.adobe.modules)
    json.dumps(answer)  # the Lambda answer must serialise


def test_a_permanent_failure_returns_normally(bench: Bench) -> None:
    bench.authorize()
    bench.adobe.zoho_spec_state = "gone"

    answer = app(bench).handle(MANUAL_EVENT)

    assert (answer["ok"], answer["reason_code"], answer["retryable"]) == (False, "aep-zoho-source-retired", False)


def test_a_passing_failure_raises_so_lambda_retries(bench: Bench) -> None:
    bench.authorize()
    bench.adobe.inject(Fault(FLOW_PREFIX + "/connectionSpecs", status=429, headers={"Retry-After": "600"}))

    with pytest.raises(ProvisioningWillRetry) as info:
        app(bench).handle(MANUAL_EVENT)

    assert (info.value.code, info.value.retryable) == ("aep-throttled", True)


# ---- the deployed module --------------------------------------------------------------------------------
def load_handler(monkeypatch: pytest.MonkeyPatch, bench: Bench) -> ModuleType:
    monkeypatch.setenv("SECRET_PREFIX", PREFIX)
    monkeypatch.setenv("ZOHO_DATA_CENTERS_JSON", bench.zoho.data_centers_json())
    monkeypatch.setenv("ADOBE_IMS_URL", bench.adobe.base_url)
    monkeypatch.setenv("ADOBE_PLATFORM_URL", bench.adobe.base_url)
    return load_function("adobe_provisioning")


@pytest.mark.parametrize("event", [AUTHORIZED_EVENT, MANUAL_EVENT], ids=["eventbridge", "direct"])
def test_the_handler_module_provisions_from_each_sample_event(
    bench: Bench, monkeypatch: pytest.MonkeyPatch, event: dict[str, Any]
) -> None:
    bench.authorize()
    handler = load_handler(monkeypatch, bench)

    answer = handler.lambda_handler(event, LambdaContext())

    assert answer["ok"] is True
    assert list(bench.adobe.connections) == [answer["base_connection_id"]]


# ---- secrets stay secret ---------------------------------------------------------------------------------
class RawRecords(logging.Handler):
    """Every record as the product handed it over, before any redaction."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.dumps(record.__dict__, default=str))


def test_no_secret_reaches_a_log_record_an_event_a_tag_or_an_answer(bench: Bench) -> None:
    raw = RawRecords()
    bench.logger.addHandler(raw)
    secrets: set[str] = {CLIENT_SECRET, EU_SECRET, ADOBE_CLIENT_SECRET}
    answers: list[Any] = []
    tags: list[dict[str, str]] = []
    try:
        bench.authorize()
        secrets.update(bench.secret()[k] for k in ("access_token", "refresh_token"))
        answers.append(app(bench).handle(MANUAL_EVENT))  # create
        bench.authorize()
        secrets.update(bench.secret()[k] for k in ("access_token", "refresh_token"))
        answers.append(app(bench).handle(MANUAL_EVENT))  # patch + revoke
        bench.adobe.expire_tokens()
        bench.adobe.patch_refused = True
        answers.append(app(bench).handle(MANUAL_EVENT))  # 401013, replace
        tags.append(bench.tags())
        bench.set_adobe_secret(adobe_secret(client_secret="wrong-adobe-secret-0001"))
        secrets.add("wrong-adobe-secret-0001")
        bench.adobe.expire_tokens()  # else the cached IMS token would still serve
        answers.append(app(bench).handle(MANUAL_EVENT))  # a credential error
        tags.append(bench.tags())
    finally:
        bench.logger.removeHandler(raw)
    secrets.update(
        (c.header("authorization") or "").split(" ", 1)[-1] for c in bench.flow_calls() if c.header("authorization")
    )

    assert [a["ok"] for a in answers] == [True, True, True, False]
    haystacks = {
        "raw log records": "\n".join(raw.records),
        "log lines": "\n".join(bench.logs.lines),
        "events": json.dumps(bench.events.events),
        "tags": json.dumps(tags),
        "answers": json.dumps(answers),
    }
    assert len(secrets) >= 8
    for where, text in haystacks.items():
        leaked = [s[:8] for s in secrets if s in text]
        assert not leaked, f"secret(s) starting {leaked} found in {where}"
