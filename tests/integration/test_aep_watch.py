"""The watch of the S3 path's dataflow runs: verdicts, the status they set, the event, the metric.

AEP's runs come from a scripted Flow Service (``ScriptedRuns``); the bucket, the connection store
and the events are the production adapters on moto. The emulator's real runs are covered where
provisioning and ingestion are tested end to end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.export_world import ExportWorld
from tests.support.fakes import FakeClock
from zoho_aep.adapters.adobe.dataflows import Run
from zoho_aep.config.settings import load_settings
from zoho_aep.domain import events as ev
from zoho_aep.domain.aep import AepState
from zoho_aep.domain.connection import (
    STATUS_ACTIVE,
    STATUS_INGESTION_FAILING,
    STATUS_NEEDS_REAUTH,
    TAG_LAST_ERROR,
    TAG_PATH,
    TAG_STATUS,
)
from zoho_aep.domain.errors import AdobeUnavailable
from zoho_aep.domain.export import PATH_AMAZON_S3
from zoho_aep.usecases.s3_source.deps import S3SourceDeps
from zoho_aep.usecases.s3_source.watch import watch_runs

pytestmark = pytest.mark.usefixtures("app_secrets_seeded")
NOW = 1_800_000_000


class ScriptedRuns:
    """Flow Service's ``GET /runs`` as a script: flow id -> runs, newest first."""

    def __init__(self) -> None:
        self.by_flow: dict[str, list[Run]] = {}
        self.down = False

    def runs(self, flow_id: str, limit: int = 20) -> list[Run]:
        if self.down:
            raise AdobeUnavailable("Flow Service is unavailable.")
        return self.by_flow.get(flow_id, [])[:limit]


class Apis:
    def __init__(self, flows: ScriptedRuns) -> None:
        self.flows = flows


def run(run_id: str, status: str, records: int = 100, failed: int = 0, at: int = NOW - 600) -> Run:
    return Run(run_id, status, at * 1000, records, records - failed, failed, 1, ())


@pytest.fixture
def world(sm: Any, s3: Any, zoho: Any, clock: FakeClock, tmp_path: Any) -> Iterator[ExportWorld]:
    clock.now = NOW
    export_world = ExportWorld(sm, s3, zoho, clock, tmp_path)
    export_world.consent("acme")
    export_world.store.set_tags("acme", {TAG_PATH: PATH_AMAZON_S3, TAG_STATUS: STATUS_ACTIVE})
    state = AepState("acme", "prod", base_connection_id="bc-1")
    for module in ("Leads", "Contacts"):
        item = state.module(module)
        item.flow_id, item.dataset_id = f"flow-{module}", f"ds-{module}"
    export_world.bucket.update_aep_state("acme", lambda _: state)
    export_world.events.events.clear()  # the consent's own event
    yield export_world
    export_world.close()


@pytest.fixture
def flows() -> ScriptedRuns:
    return ScriptedRuns()


@pytest.fixture
def counted() -> list[tuple[str, bool]]:
    return []


@pytest.fixture
def deps(world: ExportWorld, flows: ScriptedRuns, counted: list[tuple[str, bool]]) -> S3SourceDeps:
    settings = load_settings(
        {"SECRET_PREFIX": "zoho-aep", "AEP_ROW_ERROR_THRESHOLD": "5", "EXPORT_BUCKET": "zoho-aep-export-test"}
    )
    return S3SourceDeps(
        settings=settings,
        store=world.store,
        app_secrets=world.app_secrets,
        refresh=world.deps,
        crm=world.export.crm,
        bucket=world.bucket,
        aep=lambda sandbox: Apis(flows),  # type: ignore[arg-type,return-value]
        events=world.events,
        logger=world.logger,
        clock=world.clock,
        on_run=lambda outcome, failed: counted.append((outcome, failed)),
    )


def tags(world: ExportWorld) -> dict[str, str]:
    return world.store.get_tags("acme")


def test_good_runs_are_recorded_for_status_and_change_nothing_else(
    world: ExportWorld, flows: ScriptedRuns, deps: S3SourceDeps, counted: list[tuple[str, bool]]
) -> None:
    flows.by_flow = {"flow-Leads": [run("r2", "success", 40), run("r1", "success")], "flow-Contacts": []}

    outcome = watch_runs(deps)

    assert (outcome.connections, outcome.flows, outcome.failed, outcome.new_failures) == (1, 2, [], 0)
    state = world.bucket.read_aep_state("acme")
    assert state is not None and state.modules["Leads"].last_run is not None
    assert (state.modules["Leads"].last_run.id, state.modules["Leads"].last_run.records_out) == ("r2", 40)
    assert state.modules["Contacts"].last_run is None
    assert tags(world)[TAG_STATUS] == STATUS_ACTIVE
    assert world.events.events == [] and counted == [("ok", False)]


def test_a_running_run_is_not_judged_the_newest_finished_one_is(
    world: ExportWorld, flows: ScriptedRuns, deps: S3SourceDeps
) -> None:
    flows.by_flow = {"flow-Leads": [run("r3", "inProgress"), run("r2", "failed")]}

    watch_runs(deps)

    state = world.bucket.read_aep_state("acme")
    assert state is not None and state.modules["Leads"].last_run is not None
    assert state.modules["Leads"].last_run.id == "r2"


def test_a_failed_run_sets_ingestion_failing_publishes_once_and_counts(
    world: ExportWorld, flows: ScriptedRuns, deps: S3SourceDeps, counted: list[tuple[str, bool]]
) -> None:
    flows.by_flow = {"flow-Leads": [run("r1", "failed", 100, 100)]}

    first = watch_runs(deps)
    second = watch_runs(deps)  # the same run again: no second event

    assert (first.failed, first.new_failures, second.new_failures) == (["acme/Leads"], 1, 0)
    assert (tags(world)[TAG_STATUS], tags(world)[TAG_LAST_ERROR]) == (STATUS_INGESTION_FAILING, "aep-run-failed")
    (event,) = world.events.of_type(ev.AEP_RUN_FAILED)
    assert event == {
        "connection": "acme",
        "module": "Leads",
        "flow_id": "flow-Leads",
        "run_id": "r1",
        "reason_code": "aep-run-failed",
        "records_read": 100,
        "records_failed": 100,
        "failing_days": 0,
    }
    assert counted == [("aep-run-failed", True), ("aep-run-failed", True)]
    log = "\n".join(world.log.lines)
    assert '"days_until_aep_disables_it":30' in log


def test_row_errors_over_the_threshold_fail_the_run_under_it_do_not(
    world: ExportWorld, flows: ScriptedRuns, deps: S3SourceDeps
) -> None:
    flows.by_flow = {"flow-Leads": [run("r1", "success", 100, 5)], "flow-Contacts": [run("c1", "success", 100, 6)]}

    outcome = watch_runs(deps)

    assert outcome.failed == ["acme/Contacts"]
    assert tags(world)[TAG_LAST_ERROR] == "aep-row-errors"
    (event,) = world.events.of_type(ev.AEP_RUN_FAILED)
    assert (event["module"], event["reason_code"], event["records_failed"]) == ("Contacts", "aep-row-errors", 6)


def test_a_good_run_after_failures_recovers_the_connection(
    world: ExportWorld, flows: ScriptedRuns, deps: S3SourceDeps
) -> None:
    flows.by_flow = {"flow-Leads": [run("r1", "failed")]}
    watch_runs(deps)
    world.clock.advance(3 * 86400)
    flows.by_flow = {"flow-Leads": [run("r2", "failed", at=NOW + 2 * 86400), run("r1", "failed")]}
    watch_runs(deps)
    assert world.events.of_type(ev.AEP_RUN_FAILED)[-1]["failing_days"] == 3

    flows.by_flow = {"flow-Leads": [run("r3", "success", at=NOW + 3 * 86400)]}
    outcome = watch_runs(deps)

    assert (outcome.failed, outcome.recovered) == ([], ["acme"])
    assert tags(world)[TAG_STATUS] == STATUS_ACTIVE and TAG_LAST_ERROR not in tags(world)
    assert world.events.of_type(ev.CONNECTION_RECOVERED) == [{"connection": "acme"}]
    state = world.bucket.read_aep_state("acme")
    assert state is not None and state.modules["Leads"].failing_since is None


def test_a_failing_run_does_not_hide_a_refresh_verdict(
    world: ExportWorld, flows: ScriptedRuns, deps: S3SourceDeps
) -> None:
    world.store.set_tags("acme", {TAG_STATUS: STATUS_NEEDS_REAUTH, TAG_LAST_ERROR: "zoho-consent-revoked"})
    flows.by_flow = {"flow-Leads": [run("r1", "failed")]}

    watch_runs(deps)

    assert (tags(world)[TAG_STATUS], tags(world)[TAG_LAST_ERROR]) == (STATUS_NEEDS_REAUTH, "zoho-consent-revoked")
    assert len(world.events.of_type(ev.AEP_RUN_FAILED)) == 1  # still said


def test_adobe_down_skips_the_connection_and_changes_nothing(
    world: ExportWorld, flows: ScriptedRuns, deps: S3SourceDeps
) -> None:
    before = json.loads(world.s3.get_object(Bucket="zoho-aep-export-test", Key="state/acme/_aep.json")["Body"].read())
    flows.down = True

    outcome = watch_runs(deps)

    assert outcome.skipped == ["acme"] and not outcome.as_dict()["ok"]
    after = json.loads(world.s3.get_object(Bucket="zoho-aep-export-test", Key="state/acme/_aep.json")["Body"].read())
    assert after == before and world.events.events == []


def test_a_connection_moved_off_the_s3_path_is_not_watched(
    world: ExportWorld, flows: ScriptedRuns, deps: S3SourceDeps
) -> None:
    world.store.set_tags("acme", {TAG_PATH: "zoho-crm"})
    flows.by_flow = {"flow-Leads": [run("r1", "failed")]}

    outcome = watch_runs(deps)

    assert (outcome.connections, outcome.flows) == (0, 0)
    assert world.events.events == [] and tags(world)[TAG_STATUS] == STATUS_ACTIVE
