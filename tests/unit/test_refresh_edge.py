"""The refresh function's edge: which events start which cycle, the report, the EMF metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from zoho_aep.adapters.metrics import get_metrics
from zoho_aep.domain.errors import AppSecretMissing, BadRequest, InvalidConnectionName
from zoho_aep.edges.token_refresh import RefreshApp, RefreshRequest, parse_refresh_event, record_cycle_metrics
from zoho_aep.usecases.refresh.outcomes import ConnectionOutcome, CycleReport

CLASSIC = {
    "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-22T15:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/ExampleRule"],
    "detail": {},
}
SCHEDULER = {
    "schedule_arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/refresh",
    "scheduled_time": "2026-11-22T15:00:00Z",
    "execution_id": "d32c5kddcf5bb8c3",
    "attempt": "1",
}


@pytest.mark.parametrize("event", [CLASSIC, SCHEDULER, {}], ids=["classic-scheduled-event", "scheduler", "empty"])
def test_scheduled_shapes_run_a_plain_cycle(event: dict[str, Any]) -> None:
    assert parse_refresh_event(event) == RefreshRequest("schedule", force=False, names=None)


def test_a_manual_invoke_names_connections_and_forces() -> None:
    request = parse_refresh_event({"connections": ["acme", "beta", "acme"], "force": True})
    assert request == RefreshRequest("manual", force=True, names=("acme", "beta"))


def test_the_sample_events_are_accepted() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "events"
    scheduled = parse_refresh_event(json.loads((root / "token_refresh_scheduled.json").read_text()))
    manual = parse_refresh_event(json.loads((root / "token_refresh_manual.json").read_text()))
    assert scheduled.trigger == "schedule"
    assert manual == RefreshRequest("manual", force=True, names=("acme",))


@pytest.mark.parametrize(
    "event",
    [
        [],
        "acme",
        {"connection": "acme"},
        {"force": "yes"},
        {"connections": []},
        {"connections": "acme"},
        {"connections": [f"c{i}" for i in range(101)]},
    ],
    ids=["list", "string", "typo-key", "force-not-bool", "no-names", "names-not-list", "too-many"],
)
def test_bad_input_is_refused_with_a_clear_code(event: Any) -> None:
    with pytest.raises(BadRequest) as info:
        parse_refresh_event(event)
    assert info.value.code == "refresh-request-invalid"


def test_an_invalid_connection_name_is_refused() -> None:
    with pytest.raises(InvalidConnectionName):
        parse_refresh_event({"connections": ["Acme/../x"]})


def test_a_refused_event_touches_nothing() -> None:
    built: list[bool] = []

    def deps() -> Any:
        built.append(True)
        raise AssertionError("no adapter may be built for a refused event")

    app = RefreshApp(deps, logger=_NullLogger())
    with pytest.raises(BadRequest):
        app.handle({"connection": "acme"})
    assert built == []


def _report() -> CycleReport:
    return CycleReport(
        seen=5,
        due=4,
        not_due=1,
        duration_ms=12.34,
        outcomes=[
            ConnectionOutcome("a", "refreshed", status="active", expires_at=1),
            ConnectionOutcome("b", "needs-reauth", "zoho-consent-revoked", "needs-reauth"),
            ConnectionOutcome("c", "throttled", "zoho-throttled", "active", retry_after=2),
            ConnectionOutcome("d", "failed", "zoho-unavailable", "active"),
            ConnectionOutcome("e", "skipped", "needs-reauth", "needs-reauth"),
        ],
    )


def test_the_report_counts_outcomes_and_carries_codes_only() -> None:
    data = _report().as_dict()

    assert {k: data[k] for k in ("status", "seen", "due", "refreshed", "failed", "needs_reauth")} == {
        "status": "ok",
        "seen": 5,
        "due": 4,
        "refreshed": 1,
        "failed": 3,
        "needs_reauth": 2,
    }
    assert data["connections"][1] == {
        "connection": "b",
        "outcome": "needs-reauth",
        "reason": "zoho-consent-revoked",
        "status": "needs-reauth",
    }


@pytest.fixture
def metrics() -> Iterator[Any]:
    sink = get_metrics("refresh-tests")
    sink.clear_metrics()
    yield sink
    sink.clear_metrics()


def test_cycle_metrics_are_emitted_in_emf(metrics: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_cycle_metrics(metrics, _report())

    main = metrics.serialize_metric_set()
    names = {m["Name"] for m in main["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {
        "ConnectionsSeen",
        "ConnectionsDue",
        "Refreshed",
        "RefreshFailed",
        "NeedsReauthorization",
        "CycleDurationMs",
    }
    assert (main["ConnectionsSeen"], main["Refreshed"], main["RefreshFailed"]) == ([5.0], [1.0], [3.0])
    assert main["NeedsReauthorization"] == [2.0]
    by_class = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert {(m["class"], tuple(m["RefreshFailed"])) for m in by_class} == {
        ("needs-reauth", (1.0,)),
        ("throttled", (1.0,)),
        ("transient", (1.0,)),
    }


def test_a_failed_cycle_is_counted(metrics: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_cycle_metrics(metrics, CycleReport(error=AppSecretMissing("zoho-aep/zoho-client does not exist")))

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(m["reason"], m["CycleFailed"]) for m in lines] == [("app-secret-missing", [1.0])]


class _NullLogger:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None
