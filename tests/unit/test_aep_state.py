"""The S3 path's AEP side: names, schedule, run verdicts, the batch budget, the recorded state."""

from __future__ import annotations

import pytest

from zoho_aep.domain.aep import (
    RUN_FAILED,
    RUN_OK,
    RUN_RUNNING,
    AepState,
    RunSeen,
    aep_state_key,
    dataset_name,
    field_group_title,
    flow_schedule,
    flows_in_use,
    judge_run,
    module_object_name,
    runs_per_day,
    s3_base_connection_name,
)
from zoho_aep.domain.errors import AepStateInvalid


def test_names_follow_the_design() -> None:
    assert s3_base_connection_name("zoho-aep", "acme") == "zoho-aep acme s3"
    assert module_object_name("zoho-aep", "acme", "Leads") == "zoho-aep acme Leads"
    assert dataset_name("acme", "Leads") == "Zoho CRM Leads (acme)"
    assert field_group_title("acme", "Leads") != dataset_name("acme", "Leads")  # titles are unique per sandbox
    assert aep_state_key("acme") == "state/acme/_aep.json"


def test_the_schedule_follows_the_export_and_starts_in_the_future() -> None:
    assert flow_schedule(180, 1_800_000_000) == {
        "startTime": "1800000300",
        "frequency": "minute",
        "interval": "180",
        "backfill": True,
    }
    assert flow_schedule(5, 0)["interval"] == "15"  # AEP's shortest
    assert (runs_per_day(180), runs_per_day(15), runs_per_day(1440), runs_per_day(7)) == (8, 96, 1, 96)


@pytest.mark.parametrize(
    ("status", "failed", "records", "verdict"),
    [
        ("success", 0, 100, RUN_OK),
        ("Success", 1, 100, RUN_OK),  # under the threshold (5%)
        ("success", 10, 100, RUN_FAILED),  # row errors above it
        ("Failed", 0, 0, RUN_FAILED),
        ("partial_success", 2, 100, RUN_OK),
        ("inProgress", 0, 0, RUN_RUNNING),
        ("scheduled", 0, 0, RUN_RUNNING),
        ("something-new", 0, 0, RUN_RUNNING),  # unknown: not over
        (None, 0, 0, RUN_RUNNING),
    ],
)
def test_runs_are_judged_case_insensitively_with_a_row_error_threshold(
    status: object, failed: int, records: int, verdict: str
) -> None:
    assert judge_run(status, failed, records, 0.05) == verdict


def test_the_state_round_trips_keeps_field_order_and_what_it_does_not_know() -> None:
    state = AepState("acme", "prod", tenant_id="acme", base_connection_id="bc-1", reader_key_id="AKIA1234")
    leads = state.module("Leads")
    leads.fields = {"id": "string", "Zebra": "string", "Alpha": "integer"}
    leads.last_run = RunSeen("run-1", "success", RUN_OK, records_in=3, records_out=3, at=1)
    value = {**state.to_value(), "future": {"x": 1}}

    back = AepState.from_value("acme", value)

    assert list(back.modules["Leads"].fields) == ["id", "Zebra", "Alpha"]
    assert back.modules["Leads"].last_run == leads.last_run
    assert back.to_value()["future"] == {"x": 1}
    assert back.base_connection_id == "bc-1" and not back.modules["Leads"].complete


@pytest.mark.parametrize(
    "value",
    [[], {"schema": 2, "connection": "acme"}, {"schema": 1, "connection": "beta"}, {"schema": 1, "connection": "acme",
     "modules": {"Leads": {"module": "Leads", "nope": 1}}}, {"schema": 1, "connection": "acme", "tenant_id": 3}],
)  # fmt: skip
def test_a_state_that_cannot_be_read_says_so(value: object) -> None:
    with pytest.raises(AepStateInvalid):
        AepState.from_value("acme", value)


def test_flows_in_use_count_one_sandbox_and_can_leave_one_connection_out() -> None:
    a, b, c = AepState("a", "prod"), AepState("b", "prod"), AepState("c", "dev")
    for state in (a, b, c):
        state.module("Leads").flow_id = f"flow-{state.connection}"
        state.module("Deals")
    a.module("Deals").flow_id = "flow-a2"
    assert flows_in_use([a, b, c], "prod") == 3
    assert flows_in_use([a, b, c], "prod", but="a") == 1
