"""The export to S3 against moto's S3 and the Zoho emulator: backfills, deltas, crashes, refusals, races."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.emulators.base import Fault
from tests.support.constants import CLIENT_ID
from tests.support.export_world import US_ORG, ExportWorld
from tests.support.fakes import FakeClock
from zoho_aep.domain import events as ev
from zoho_aep.domain.aep import AepState
from zoho_aep.domain.connection import TAG_EXPORT_ERROR, TAG_EXPORT_STATUS, TAG_PATH, TAG_STATUS
from zoho_aep.domain.export import ExportUnit
from zoho_aep.usecases.export.unit import COLUMNS_WAIT_SECONDS, run_unit

pytestmark = pytest.mark.usefixtures("app_secrets_seeded")
LEADS = ExportUnit("acme", "Leads")
EXPORT_SCOPES = (
    "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.settings.fields.READ,ZohoCRM.bulk.READ,ZohoCRM.org.READ"
)


class Crash(BaseException):
    """The Lambda runtime ending an invocation mid-step: nothing after it runs."""


@pytest.fixture
def world(sm: Any, s3: Any, zoho: Any, clock: FakeClock, tmp_path: Any) -> Iterator[ExportWorld]:
    export_world = ExportWorld(sm, s3, zoho, clock, tmp_path)
    export_world.consent("acme")
    zoho.crm.page_size = 10
    yield export_world
    export_world.close()


def seed(world: ExportWorld, count: int, module: str = "Leads") -> list[str]:
    """Records modified an hour ago: before the first window, and out of the next delta's overlap."""
    ids = world.zoho.crm.add_many(US_ORG, module, count, modified_at=world.clock() - 3600)
    world.clock.advance(5)
    return ids


def finish(world: ExportWorld, runs: int = 10, **kwargs: Any) -> Any:
    """Run until the unit's window is exported (each run advances as far as it can without waiting)."""
    report = None
    for _ in range(runs):
        report = world.run(modules=("Leads",), **kwargs)
        if report.outcomes[0].outcome in ("completed", "failed"):
            return report
        world.clock.advance(60)
    raise AssertionError(f"the export did not finish: {report.as_dict() if report else None}")


def zoho_error(code: str) -> dict[str, Any]:
    return {"code": code, "details": {}, "message": "as Zoho says it", "status": "error"}


def ids_of(rows: list[dict[str, str]]) -> list[str]:
    return sorted(r["id"] for r in rows)


# ---- the backfill ------------------------------------------------------------------------------------
def test_a_backfill_larger_than_one_bulk_read_page_exports_every_record_once(world: ExportWorld) -> None:
    ids = seed(world, 25)

    report = finish(world)

    (outcome,) = report.outcomes
    assert (outcome.outcome, outcome.records, outcome.files) == ("completed", 25, 3)
    files = world.files()
    assert [k.rsplit("-", 1)[1] for k in files] == ["00001.csv.gz", "00002.csv.gz", "00003.csv.gz"]
    rows = world.all_rows()
    assert ids_of(rows) == sorted(ids)
    assert {r["zoho_deleted"] for r in rows} == {"false"}
    # Page tokens, not page numbers, past the first page; every job asked for the same window.
    creates = [r.json()["query"] for r in world.zoho.calls("/crm/bulk/v8/read", "POST")]
    assert [list(q) for q in creates[1:]] == [["page_token"], ["page_token"]]
    assert creates[0]["criteria"] == {
        "field": {"api_name": "Modified_Time"},
        "comparator": "less_than",
        "value": "2026-11-18T11:06:45+00:00",
    }


def test_columns_are_the_modules_exportable_fields_in_a_fixed_order_then_zoho_deleted(world: ExportWorld) -> None:
    seed(world, 3)

    finish(world)

    header = list(world.all_rows()[0])
    assert header[0] == "id" and header[-1] == "zoho_deleted"
    assert "Record_Image" not in header and "Attachments_Files" not in header  # not one CSV value each
    assert header[1:-1] == world.state().columns[1:]
    assert world.state().columns[:4] == ["id", "Last_Name", "First_Name", "Email"]


def test_a_file_appears_only_complete_never_empty_and_staging_is_cleaned(world: ExportWorld) -> None:
    seed(world, 20)  # two full pages

    finish(world)

    assert world.keys("staging/") == []
    assert all(o.size > 0 for o in world.bucket.objects("zoho/"))
    assert len(world.files()) == 2


def test_an_empty_module_exports_no_file_and_still_completes(world: ExportWorld) -> None:
    report = finish(world)

    assert (report.outcomes[0].outcome, report.outcomes[0].files) == ("completed", 0)
    assert world.files() == []
    (event,) = world.events_of(ev.EXPORT_COMPLETED)
    assert (event["records"], event["files"], event["window_start"]) == (0, 0, None)


def test_the_completed_event_says_what_was_exported(world: ExportWorld) -> None:
    seed(world, 12)

    finish(world)

    (event,) = world.events_of(ev.EXPORT_COMPLETED)
    assert event == {
        "connection": "acme",
        "module": "Leads",
        "records": 12,
        "deleted": 0,
        "files": 2,
        "window_start": None,
        "window_end": "2026-11-18T11:06:45Z",
    }
    assert world.tags("acme")[TAG_EXPORT_STATUS] == "ok"


# ---- deltas --------------------------------------------------------------------------------------------
def test_a_delta_carries_exactly_the_changes_and_deletions_since_the_last_window(world: ExportWorld) -> None:
    ids = seed(world, 15)
    finish(world)
    first_files = world.files()
    world.clock.advance(3600)
    crm = world.zoho.crm
    crm.put(US_ORG, "Leads", {"Last_Name": "Changed"}, record_id=ids[3])
    new_id = crm.put(US_ORG, "Leads", {"Last_Name": "New"})
    crm.delete(US_ORG, "Leads", ids[7])
    crm.delete(US_ORG, "Leads", ids[8], permanent=True)
    world.clock.advance(5)

    report = finish(world)

    (outcome,) = report.outcomes
    assert (outcome.records, outcome.deleted) == (2, 2)
    delta_rows = [row for key in world.files() if key not in first_files for row in world.rows(key)]
    changed = {r["id"]: r for r in delta_rows if r["zoho_deleted"] == "false"}
    assert sorted(changed) == sorted([ids[3], new_id])
    assert changed[ids[3]]["Last_Name"] == "Changed"
    tombstones = [r for r in delta_rows if r["zoho_deleted"] == "true"]
    assert sorted(r["id"] for r in tombstones) == sorted([ids[7], ids[8]])
    assert all(r["Modified_Time"].endswith("+05:30") and r["Last_Name"] == "" for r in tombstones)
    (_, second) = world.events_of(ev.EXPORT_COMPLETED)
    assert (second["records"], second["deleted"]) == (2, 2) and second["window_start"] is not None


def test_a_delta_asks_zoho_for_modified_time_since_the_watermark_with_a_small_overlap(world: ExportWorld) -> None:
    seed(world, 2)
    finish(world)
    watermark = world.state().watermark
    assert watermark is not None
    world.clock.advance(3600)

    finish(world)

    query = world.zoho.calls("/crm/bulk/v8/read", "POST")[-1].json()["query"]
    lower, upper = query["criteria"]["group"]
    assert (lower["comparator"], upper["comparator"]) == ("greater_equal", "less_than")
    from zoho_aep.domain.export import zoho_time

    assert lower["value"] == zoho_time(watermark - world.export.overlap_seconds)
    assert (world.state().watermark or 0) > watermark


def test_a_delta_with_no_change_writes_no_file(world: ExportWorld) -> None:
    seed(world, 3)
    finish(world)
    files = world.files()
    world.clock.advance(3600)

    report = finish(world)

    assert report.outcomes[0].files == 0 and world.files() == files


def test_a_field_added_in_zoho_is_appended_and_a_removed_one_stays_empty(world: ExportWorld) -> None:
    ids = seed(world, 2)
    finish(world)
    crm = world.zoho.crm
    crm.add_field(US_ORG, "Leads", "Lead_Score", "integer")
    crm.remove_field(US_ORG, "Leads", "Phone")
    world.clock.advance(3600)
    crm.put(US_ORG, "Leads", {"Lead_Score": 42}, record_id=ids[0])
    world.clock.advance(5)

    finish(world)

    columns = world.state().columns
    assert columns[-1] == "Lead_Score" and "Phone" in columns
    (row,) = world.rows(world.files()[-1])
    assert (row["Lead_Score"], row["Phone"]) == ("42", "")
    assert list(row)[: len(columns)] == columns


def map_in_aep(world: ExportWorld, columns: list[str]) -> None:
    """What S3-path provisioning records once AEP's schema and mapping hold ``columns``."""

    def mutate(state: AepState | None) -> AepState:
        state = state or AepState("acme", "prod")
        state.module("Leads").fields = dict.fromkeys(columns, "string")
        return state

    world.bucket.update_aep_state("acme", mutate)


def test_on_the_s3_path_new_fields_wait_for_aep_to_map_them_then_flow_through(world: ExportWorld) -> None:
    ids = seed(world, 2)
    finish(world)
    map_in_aep(world, world.state().columns)
    world.zoho.crm.add_field(US_ORG, "Leads", "Lead_Score", "integer")
    world.clock.advance(3600)
    world.zoho.crm.put(US_ORG, "Leads", {"Lead_Score": 7}, record_id=ids[0])
    world.clock.advance(5)
    jobs = len(world.zoho.calls("/crm/bulk/v8/read", "POST"))

    waiting = world.run(modules=("Leads",))
    again = world.run(modules=("Leads",))

    assert [o.outcome for o in (*waiting.outcomes, *again.outcomes)] == ["pending", "pending"]
    assert world.events.of_type(ev.EXPORT_COLUMNS_CHANGED) == [
        {"connection": "acme", "module": "Leads", "added": ["Lead_Score"]}
    ]  # once: provisioning is already on it
    assert len(world.zoho.calls("/crm/bulk/v8/read", "POST")) == jobs and "Lead_Score" not in world.state().columns

    map_in_aep(world, [*world.state().columns, "Lead_Score"])  # provisioning added it to schema and mapping
    finish(world)

    (row,) = world.rows(world.files()[-1])
    assert row["Lead_Score"] == "7" and world.state().columns_waiting is None


def test_an_unmapped_new_field_waits_at_most_half_an_hour(world: ExportWorld) -> None:
    seed(world, 1)
    finish(world)
    map_in_aep(world, world.state().columns)
    world.zoho.crm.add_field(US_ORG, "Leads", "Lead_Score", "integer")
    world.clock.advance(3600)
    assert world.run(modules=("Leads",)).outcomes[0].outcome == "pending"

    world.clock.advance(COLUMNS_WAIT_SECONDS)
    finish(world)

    assert world.state().columns[-1] == "Lead_Score"
    assert any("aep-columns-unmapped" in line for line in world.log.lines)


def test_without_the_s3_path_provisioned_a_new_field_does_not_wait(world: ExportWorld) -> None:
    seed(world, 1)
    finish(world)
    world.zoho.crm.add_field(US_ORG, "Leads", "Lead_Score", "integer")
    world.clock.advance(3600)

    finish(world, runs=1)

    assert world.events.of_type(ev.EXPORT_COLUMNS_CHANGED) == []


# ---- Zoho's failures ------------------------------------------------------------------------------------
def test_a_running_job_is_left_for_later_and_nobody_waits(world: ExportWorld) -> None:
    seed(world, 5)
    world.zoho.crm.job_seconds = 120

    first = world.run(modules=("Leads",))

    assert first.outcomes[0].outcome == "pending" and first.outcomes[0].retry_in
    assert len(world.zoho.calls("/crm/bulk/v8/read", "POST")) == 1
    world.clock.advance(30)
    assert world.run(modules=("Leads",)).outcomes[0].outcome == "pending"
    world.clock.advance(120)
    assert world.run(modules=("Leads",)).outcomes[0].outcome == "completed"
    assert len(world.zoho.calls("/crm/bulk/v8/read", "POST")) == 1  # the same job all along


def test_a_failed_job_is_redone_for_the_same_window(world: ExportWorld) -> None:
    ids = seed(world, 5)
    world.zoho.crm.fail_next_jobs(2)

    report = finish(world)

    assert report.outcomes[0].outcome == "completed"
    assert ids_of(world.all_rows()) == sorted(ids)
    bodies = [r.json()["query"] for r in world.zoho.calls("/crm/bulk/v8/read", "POST")]
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]


def test_a_job_that_keeps_failing_is_a_retryable_failure_and_the_window_is_kept(world: ExportWorld) -> None:
    ids = seed(world, 5)
    world.zoho.crm.fail_next_jobs(3)

    report = finish(world)

    (outcome,) = report.outcomes
    assert (outcome.outcome, outcome.reason, outcome.retryable) == ("failed", "zoho-bulk-job-failed", True)
    (event,) = world.events_of(ev.EXPORT_FAILED)
    assert event == {"connection": "acme", "module": "Leads", "reason_code": "zoho-bulk-job-failed", "retryable": True}
    window = world.state().run
    assert window is not None
    world.clock.advance(600)
    assert finish(world).outcomes[0].outcome == "completed"
    assert world.state().watermark == window.window_end
    assert ids_of(world.all_rows()) == sorted(ids)


def test_a_throttled_download_waits_a_minute_and_goes_on_by_itself(world: ExportWorld) -> None:
    ids = seed(world, 5)
    world.zoho.inject(Fault("/crm/bulk/v8/read/", status=429, method="GET", body=zoho_error("TOO_MANY_REQUESTS")))

    # the fault hits the status read first: that is a throttled API call, a passing failure
    first = world.run(modules=("Leads",))
    assert first.outcomes[0].outcome == "failed" and first.outcomes[0].retryable

    world.clock.advance(60)
    calls = len(world.zoho.calls("/crm/bulk/v8/read/"))
    world.zoho.crm.downloads_per_minute = 0  # Zoho refuses the download itself now
    second = world.run(modules=("Leads",))
    assert (second.outcomes[0].outcome, second.outcomes[0].retry_in) == ("pending", 61)
    assert len(world.zoho.calls("/crm/bulk/v8/read/")) > calls

    world.zoho.crm.downloads_per_minute = 10
    world.clock.advance(61)
    assert world.run(modules=("Leads",)).outcomes[0].outcome == "completed"
    assert ids_of(world.all_rows()) == sorted(ids)


def test_the_org_gate_keeps_downloads_under_zohos_limit(world: ExportWorld) -> None:
    seed(world, 5)
    world.export.downloads_per_minute = 0

    assert world.run(modules=("Leads",)).outcomes[0].outcome == "pending"
    assert [c for c in world.zoho.calls("/crm/bulk/v8/read/") if c.path.endswith("/result")] == []


def test_an_expired_result_is_fetched_again_with_a_new_job(world: ExportWorld) -> None:
    ids = seed(world, 5)
    world.zoho.crm.job_seconds = 10
    assert world.run(modules=("Leads",)).outcomes[0].outcome == "pending"
    world.clock.advance(30)
    world.zoho.crm.complete_jobs()
    world.zoho.crm.expire_results()  # a day passed before anyone looked

    report = finish(world)

    assert report.outcomes[0].outcome == "completed"
    assert ids_of(world.all_rows()) == sorted(ids)
    assert len(world.zoho.calls("/crm/bulk/v8/read", "POST")) == 2


def test_a_field_bulk_read_refuses_is_left_out_from_then_on(world: ExportWorld) -> None:
    seed(world, 3)
    world.zoho.crm.refused_fields = {"Interests"}

    report = finish(world)

    assert report.outcomes[0].outcome == "completed"
    state = world.state()
    assert state.skipped == ["Interests"]
    assert {r["Interests"] for r in world.all_rows()} == {""}
    assert "Interests" not in world.zoho.calls("/crm/bulk/v8/read", "POST")[-1].json()["query"]["fields"]


# ---- consent ------------------------------------------------------------------------------------------------
def test_a_connection_consented_without_the_exports_scopes_stops_and_says_a_new_consent_is_needed(
    world: ExportWorld,
) -> None:
    world.consent("narrow", scopes="ZohoCRM.modules.READ,ZohoCRM.org.READ,ZohoCRM.users.READ")

    report = world.run("narrow", modules=("Leads",))

    (outcome,) = report.outcomes
    assert (outcome.outcome, outcome.reason, outcome.retryable) == ("failed", "zoho-scope-missing", False)
    assert world.zoho.calls("/crm/bulk/v8/read", "POST") == []
    tags = world.tags("narrow")
    assert (tags[TAG_EXPORT_STATUS], tags[TAG_EXPORT_ERROR]) == ("needs-consent", "zoho-scope-missing")
    assert tags[TAG_STATUS] == "active"  # the token refresh is untouched
    (event,) = world.events_of(ev.EXPORT_FAILED)
    assert (event["reason_code"], event["retryable"]) == ("zoho-scope-missing", False)
    world.clock.advance(50 * 60)
    assert world.cycle().outcome_of("narrow").outcome == "refreshed"


def test_zohos_own_scope_refusal_is_read_the_same_way(world: ExportWorld) -> None:
    world.edit("acme", scope="")  # Zoho did not say which scopes it granted
    world.zoho.inject(Fault("/crm/v8/settings/fields", status=401, body=zoho_error("OAUTH_SCOPE_MISMATCH")))

    (outcome,) = world.run(modules=("Leads",)).outcomes

    assert (outcome.outcome, outcome.reason) == ("failed", "zoho-scope-missing")


def test_a_revoked_consent_marks_the_connection_needs_reauth_through_the_refresh_path(world: ExportWorld) -> None:
    world.zoho.revoke_consent(world.value("acme")["refresh_token"])
    world.clock.advance(50 * 60)  # the token needs a refresh: Zoho refuses it

    (outcome,) = world.run(modules=("Leads",)).outcomes

    assert (outcome.outcome, outcome.reason, outcome.retryable) == ("failed", "zoho-consent-revoked", False)
    assert world.tags("acme")[TAG_STATUS] == "needs-reauth"
    assert world.tags("acme")[TAG_EXPORT_STATUS] == "needs-consent"
    assert [e["connection"] for e in world.events_of(ev.NEEDS_REAUTHORIZATION)] == ["acme"]
    assert world.files() == []


def test_a_token_zoho_refuses_although_it_is_fresh_is_minted_again_once(world: ExportWorld) -> None:
    seed(world, 3)
    world.zoho.inject(Fault("/crm/v8/settings/fields", status=401, body=zoho_error("INVALID_TOKEN")))

    report = finish(world)

    assert report.outcomes[0].outcome == "completed"
    assert len(world.refresh_calls()) == 1


# ---- crashes -----------------------------------------------------------------------------------------------
def crash_after(world: ExportWorld, method: str, times: int = 1) -> Callable[[], None]:
    """Make the bucket's ``method`` do its work, then crash the invocation (``times`` calls); returns undo."""
    real = getattr(world.bucket, method)
    left = {"n": times}

    def crashing(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if left["n"] > 0:
            left["n"] -= 1
            raise Crash()
        return result

    setattr(world.bucket, method, crashing)
    return lambda: setattr(world.bucket, method, real)


def after_the_crash(world: ExportWorld) -> None:
    world.clock.advance(world.export.lease_seconds + 1)  # the crashed invocation's lease runs out


def test_a_crash_after_the_upload_and_before_the_watermark_loses_nothing_and_duplicates_nothing(
    world: ExportWorld,
) -> None:
    ids = seed(world, 15)
    undo = crash_after(world, "copy")  # the first file is in the folder AEP reads; nothing says so yet
    with pytest.raises(Crash):
        world.run(modules=("Leads",))
    undo()
    (first,) = world.files()
    modified = next(o.last_modified for o in world.bucket.objects(first))
    after_the_crash(world)

    report = finish(world)

    assert report.outcomes[0].outcome == "completed"
    assert ids_of(world.all_rows()) == sorted(ids)  # each record once
    assert next(o.last_modified for o in world.bucket.objects(first)) == modified  # never overwritten
    assert len(world.events_of(ev.EXPORT_COMPLETED)) == 1


def test_a_crash_after_the_watermark_does_not_export_the_window_again(world: ExportWorld) -> None:
    ids = seed(world, 5)
    real = world.bucket.update_state
    moved = {"yes": False}

    def crash_once_the_watermark_moved(unit: Any, mutate: Any) -> Any:
        state = real(unit, mutate)
        if state is not None and state.watermark is not None and not moved["yes"]:
            moved["yes"] = True
            raise Crash()  # before the event, the tags and the lease release
        return state

    world.bucket.update_state = crash_once_the_watermark_moved  # type: ignore[method-assign]
    with pytest.raises(Crash):
        world.run(modules=("Leads",))
    world.bucket.update_state = real  # type: ignore[method-assign]
    files = world.files()
    after_the_crash(world)

    report = world.run(modules=("Leads",))

    assert world.files() == files and ids_of(world.all_rows()) == sorted(ids)
    assert report.outcomes[0].outcome == "completed"  # a new, empty window: nothing twice
    assert report.outcomes[0].records == 0
    assert len(world.events_of(ev.EXPORT_COMPLETED)) == 2  # the lost one made up, then the new window's


def test_a_crash_while_staging_redoes_only_that_page(world: ExportWorld) -> None:
    ids = seed(world, 25)
    undo = crash_after(world, "upload", times=1)
    with pytest.raises(Crash):
        world.run(modules=("Leads",))
    undo()
    after_the_crash(world)

    finish(world)

    assert ids_of(world.all_rows()) == sorted(ids)
    assert len(world.files()) == 3


def test_a_crash_between_a_deltas_two_files_publishes_the_rest_and_each_row_once(world: ExportWorld) -> None:
    ids = seed(world, 5)
    finish(world)
    world.clock.advance(3600)
    world.zoho.crm.put(US_ORG, "Leads", {"Last_Name": "Changed"}, record_id=ids[0])
    world.zoho.crm.delete(US_ORG, "Leads", ids[1])
    world.clock.advance(5)
    before = world.files()
    undo = crash_after(world, "copy")  # the records file is in the folder, the tombstones are not
    with pytest.raises(Crash):
        world.run(modules=("Leads",))
    undo()
    after_the_crash(world)

    report = finish(world)

    new = [key for key in world.files() if key not in before]
    rows = [row for key in new for row in world.rows(key)]
    assert len(new) == 2 and report.outcomes[0].outcome == "completed"
    assert sorted((r["id"], r["zoho_deleted"]) for r in rows) == sorted([(ids[0], "false"), (ids[1], "true")])


def test_a_delta_unit_writes_its_state_a_handful_of_times_not_once_per_step(world: ExportWorld) -> None:
    ids = seed(world, 5)
    finish(world)
    world.clock.advance(3600)
    world.zoho.crm.put(US_ORG, "Leads", {"Last_Name": "Changed"}, record_id=ids[0])
    world.zoho.crm.delete(US_ORG, "Leads", ids[1])
    world.clock.advance(5)
    writes: list[str] = []
    reads: list[str] = []

    def count(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        key = str(params.get("Key", ""))
        if key.startswith("state/"):
            (writes if model.name == "PutObject" else reads).append(key)

    world.s3.meta.events.register("before-parameter-build.s3", count)
    try:
        report = world.run(modules=("Leads",))
    finally:
        world.s3.meta.events.unregister("before-parameter-build.s3", count)

    assert report.outcomes[0].outcome == "completed" and report.outcomes[0].files == 2
    # The lease, the window with its job, the page, the outcome, the event's mark with the release;
    # the org's slot, its download, its release.
    assert writes.count("state/acme/Leads.json") <= 5
    assert writes.count("state/acme/_org.json") <= 3
    assert len(reads) <= 2  # this instance wrote both objects last: its versions are tried first


# ---- two at once ---------------------------------------------------------------------------------------------
def test_two_exports_of_the_same_unit_at_once_one_wins_and_nothing_is_corrupted(world: ExportWorld) -> None:
    ids = seed(world, 15)
    inside, release = threading.Event(), threading.Event()
    real = world.export.crm.download_result

    def slow_download(*args: Any) -> Any:
        inside.set()
        assert release.wait(10)
        return real(*args)

    world.export.crm.download_result = slow_download  # type: ignore[method-assign, assignment]
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(run_unit(world.export, LEADS, force=True)))
    first.start()
    assert inside.wait(10)
    world.export.crm.download_result = real  # type: ignore[method-assign]

    second = run_unit(world.export, LEADS, force=True)
    release.set()
    first.join(10)

    assert second.outcome == "in-progress"
    assert finish(world).outcomes[0].outcome == "completed"
    assert ids_of(world.all_rows()) == sorted(ids)
    assert world.state().lease is None


# ---- which connections ----------------------------------------------------------------------------------------
def test_the_schedule_exports_only_connections_on_the_s3_path_that_need_no_new_consent(world: ExportWorld) -> None:
    world.consent("native")
    world.consent("revoked")
    world.consent("narrow", scopes="ZohoCRM.modules.READ,ZohoCRM.org.READ,ZohoCRM.users.READ")
    for name in ("acme", "revoked", "narrow"):
        world.store.set_tags(name, {TAG_PATH: "amazon-s3"})
    world.store.set_tags("revoked", {TAG_STATUS: "needs-reauth"})
    world.store.set_tags("narrow", {TAG_EXPORT_STATUS: "needs-consent"})

    report = world.tick()

    looked = {(o.unit.connection, o.outcome, o.reason) for o in report.outcomes}
    assert ("acme", "completed", None) in looked
    assert ("revoked", "skipped", "connection-needs-reauth") in looked
    assert ("narrow", "skipped", "zoho-scope-missing") in looked
    assert not any(c == "native" for c, _, _ in looked)


def test_aep_source_path_amazon_s3_exports_every_connection(world: ExportWorld) -> None:
    world.export.aep_source_path = "amazon-s3"

    report = world.tick()

    assert {o.unit for o in report.outcomes} == {ExportUnit("acme", "Leads"), ExportUnit("acme", "Contacts")}


def test_a_window_is_not_started_again_right_after_one_ended(world: ExportWorld) -> None:
    world.export.aep_source_path = "amazon-s3"
    world.tick()
    world.clock.advance(60)

    report = world.tick()

    assert {o.outcome for o in report.outcomes} == {"not-due"}


def test_a_direct_invoke_of_an_unknown_connection_changes_nothing(world: ExportWorld) -> None:
    from zoho_aep.domain.errors import ConnectionNotFound

    with pytest.raises(ConnectionNotFound):
        world.run("ghost")
    assert world.keys("") == []


def test_no_token_ever_reaches_the_bucket_or_an_event(world: ExportWorld) -> None:
    seed(world, 3)
    finish(world)
    value = world.value("acme")
    secrets = [value["access_token"], value["refresh_token"], CLIENT_ID]

    texts = [
        world.s3.get_object(Bucket="zoho-aep-export-test", Key=o.key)["Body"].read() for o in world.bucket.objects("")
    ]
    texts.append(repr(world.events.events).encode())

    assert not [s for s in secrets[:2] for t in texts if s.encode() in t]
