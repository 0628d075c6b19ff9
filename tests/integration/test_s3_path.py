"""The S3 path end to end: path choice, provisioning in AEP, rows in datasets, new fields, the budget,
the watch on real (emulated) runs, disconnect.

Zoho (emulated) -> the export (production code) -> moto's S3 -> AEP (emulated) reading the bucket with
the reader's key -> datasets. Every AEP object is looked up through the product's own adapters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.emulators.adobe import AdobeEmulator
from tests.support.aep import adobe_fixture  # noqa: F401
from tests.support.export_world import US_ORG
from tests.support.fakes import FakeClock
from tests.support.s3_path_world import MODULES, READER_USER, S3PathWorld, rotate
from zoho_aep.domain import events as ev
from zoho_aep.domain.aep import (
    S3_CONNECTION_SPEC,
    dataset_name,
    field_group_title,
    module_object_name,
    s3_base_connection_name,
)
from zoho_aep.domain.connection import (
    STATUS_INGESTION_FAILING,
    TAG_LAST_ERROR,
    TAG_PATH,
    TAG_STATUS,
    TAG_SUPERSEDED,
)
from zoho_aep.domain.errors import AdobeUnavailable
from zoho_aep.usecases.disconnect import disconnect
from zoho_aep.usecases.s3_source.deps import AepApis
from zoho_aep.usecases.s3_source.watch import watch_runs

pytestmark = pytest.mark.usefixtures("app_secrets_seeded")
PREFIX = "zoho-aep"


@pytest.fixture
def world(sm: Any, s3: Any, zoho: Any, adobe: AdobeEmulator, clock: FakeClock, tmp_path: Any) -> Iterator[S3PathWorld]:
    made = S3PathWorld(sm, s3, zoho, adobe, clock, tmp_path)
    made.consent("acme")
    zoho.crm.page_size = 50
    for module in MODULES:
        zoho.crm.add_many(US_ORG, module, 12, modified_at=clock() - 3600)
    adobe.zoho_spec_state = "gone"  # Adobe retired its Zoho CRM source
    yield made
    made.close()


def objects(world: S3PathWorld, sandbox: str = "prod") -> dict[str, int]:
    """How many of each AEP object the product's names find in the sandbox."""
    apis: AepApis = world.apis(sandbox)
    counts = {
        "base connection": len(apis.flows.find_connections(S3_CONNECTION_SPEC, s3_base_connection_name(PREFIX, "acme")))
    }
    for module in MODULES:
        name = module_object_name(PREFIX, "acme", module)
        counts[f"{module} flow"] = len(apis.flows.find("flows", name))
        counts[f"{module} source"] = len(apis.flows.find("sourceConnections", name))
        counts[f"{module} target"] = len(apis.flows.find("targetConnections", name))
        counts[f"{module} dataset"] = len(apis.catalog.find_datasets(dataset_name("acme", module)))
        counts[f"{module} schema"] = len(apis.registry.find("schemas", dataset_name("acme", module)))
        counts[f"{module} field group"] = len(apis.registry.find("fieldgroups", field_group_title("acme", module)))
    return counts


def one_of_each(world: S3PathWorld) -> bool:
    return set(objects(world).values()) == {1}


# ---- the path ----------------------------------------------------------------------------------------
def test_auto_keeps_the_native_source_while_adobe_serves_it(world: S3PathWorld) -> None:
    world.adobe.zoho_spec_state = "served"

    result = world.provision()

    assert result.ok and result.path == "zoho-crm"
    assert world.store.get_tags("acme")[TAG_PATH] == "zoho-crm"
    assert world.bucket.read_aep_state("acme") is None and set(objects(world).values()) == {0}


def test_auto_takes_the_s3_path_where_the_zoho_source_is_retired(world: S3PathWorld) -> None:
    result = world.provision()

    assert result.ok and result.path == "amazon-s3", result
    tags = world.store.get_tags("acme")
    assert (tags[TAG_PATH], tags[TAG_STATUS]) == ("amazon-s3", "active")
    state = world.aep_state()
    assert tags["aep:base-connection-id"] == state.base_connection_id
    assert all(state.module(m).complete for m in MODULES)
    assert one_of_each(world)
    (event,) = world.events.of_type(ev.BASE_CONNECTION_PROVISIONED)
    assert (event["path"], event["modules"]) == ("amazon-s3", list(MODULES))


def test_a_recorded_path_never_flips_by_itself(world: S3PathWorld) -> None:
    assert world.provision().path == "amazon-s3"
    world.adobe.zoho_spec_state = "served"  # Adobe serves the spec again: the choice stands

    assert world.provision().path == "amazon-s3"
    assert world.store.get_tags("acme")[TAG_PATH] == "amazon-s3"


def test_moving_a_native_connection_deletes_its_base_connection_when_no_dataflow_uses_it(world: S3PathWorld) -> None:
    world.adobe.zoho_spec_state = "served"
    native = world.provision()
    assert native.path == "zoho-crm"

    moved = world.provision(path="amazon-s3")

    assert moved.ok and moved.path == "amazon-s3" and moved.superseded_base_connection_ids == ()
    assert [c["id"] for c in world.adobe.connections_in("prod")] == [world.aep_state().base_connection_id]


def test_moving_keeps_a_native_base_connection_dataflows_still_use_and_names_it(world: S3PathWorld) -> None:
    world.adobe.zoho_spec_state = "served"
    native = world.provision()
    world.adobe.add_dataflow(str(native.base_connection_id))

    moved = world.provision(path="amazon-s3")

    assert moved.ok and moved.superseded_base_connection_ids == (native.base_connection_id,)
    assert str(native.base_connection_id) in world.store.get_tags("acme")[TAG_SUPERSEDED]


# ---- idempotent, crash-safe --------------------------------------------------------------------------
def test_provisioning_twice_leaves_one_of_each_object(world: S3PathWorld) -> None:
    first = world.provision()
    state = world.aep_state()

    second = world.provision()

    assert first.ok and second.ok and not second.created
    assert one_of_each(world)
    assert world.aep_state().to_value() == state.to_value()


CREATES = 2 + 7 * len(MODULES)  # the class, the base connection, then each module's seven objects


@pytest.mark.parametrize("lost", range(1, CREATES + 1))
def test_an_answer_lost_after_any_create_heals_to_one_of_each(world: S3PathWorld, lost: int) -> None:
    """AEP carried out the n-th create but its answer never came back: the re-run adopts, never duplicates."""
    seen = {"creates": 0}
    real = world.source.aep

    def apis(sandbox: str) -> AepApis:
        made = real(sandbox)
        for client, method in (
            (made.registry, "create"),
            (made.flows, "create"),
            (made.flows, "create_connection"),
            (made.catalog, "create_dataset"),
            (made.dataprep, "create_mapping_set"),
        ):
            original = getattr(client, method)

            def create(*args: Any, _original: Any = original) -> Any:
                answer = _original(*args)
                seen["creates"] += 1
                if seen["creates"] == lost:
                    raise AdobeUnavailable("The answer was lost.")
                return answer

            setattr(client, method, create)
        return made

    world.source.aep = apis
    failed = world.provision()  # a lost create of a named object is found by its name at once
    world.source.aep = real
    world.clock.advance(151)  # past the provisioning claim

    healed = world.provision()

    assert seen["creates"] >= lost and (failed.ok or failed.retryable), failed
    assert healed.ok and one_of_each(world), healed


# ---- rows in AEP -------------------------------------------------------------------------------------
def test_the_exported_records_land_as_rows_and_a_delta_as_a_second_run(world: S3PathWorld) -> None:
    assert world.provision().ok
    world.export_all()

    world.ingest()

    for module in MODULES:
        assert len(world.dataset_rows(module)) == 12, module
    leads = world.dataset_rows("Leads")
    assert {row["zoho_deleted"] for row in leads} == {False}
    world.clock.advance(3 * 3600)
    changed = world.zoho.crm.put(US_ORG, "Leads", {"Last_Name": "Changed"})
    world.clock.advance(600)
    world.export_all()

    world.ingest()

    rows = world.dataset_rows("Leads")
    assert len(rows) == 13 and next(r for r in rows if r["id"] == changed)["Last_Name"] == "Changed"
    (flow_runs,) = {len(world.runs("Leads"))}
    assert flow_runs == 2


def test_a_field_added_in_zoho_flows_through_to_the_dataset(world: S3PathWorld) -> None:
    assert world.provision().ok
    world.export_all()
    world.ingest()
    world.zoho.crm.add_field(US_ORG, "Leads", "Lead_Score", "integer")
    world.clock.advance(3 * 3600)
    scored = world.zoho.crm.put(US_ORG, "Leads", {"Lead_Score": 42, "Last_Name": "Scored"})
    world.clock.advance(600)

    waiting = world.run(modules=("Leads",))
    (changed,) = world.events.of_type(ev.EXPORT_COLUMNS_CHANGED)
    assert waiting.outcomes[0].outcome == "pending" and changed["added"] == ["Lead_Score"]
    assert world.provision().ok  # what the event's rule starts
    world.export_all()
    world.ingest()

    (row,) = [r for r in world.dataset_rows("Leads") if r["id"] == scored]
    assert row["Lead_Score"] == 42
    assert "Lead_Score" in world.aep_state().module("Leads").fields


def test_a_configuration_past_the_daily_batch_budget_is_refused_before_anything_is_made(
    sm: Any, s3: Any, zoho: Any, adobe: AdobeEmulator, clock: FakeClock, tmp_path: Any
) -> None:
    world = S3PathWorld(sm, s3, zoho, adobe, clock, tmp_path, env={"EXPORT_SCHEDULE_MINUTES": "15"})
    world.consent("acme")
    adobe.zoho_spec_state = "gone"
    try:
        result = world.provision()

        assert not result.ok and result.reason_code == "aep-batch-budget-exceeded" and not result.retryable
        assert set(objects(world).values()) == {0}
        assert world.store.get_tags("acme")[TAG_LAST_ERROR] == "aep-batch-budget-exceeded"
    finally:
        world.close()


# ---- the watch on real runs ---------------------------------------------------------------------------
def test_a_run_refusing_too_many_rows_raises_the_status_the_event_and_the_metric(world: S3PathWorld) -> None:
    assert world.provision().ok
    for _ in range(3):
        world.zoho.crm.put(US_ORG, "Leads", {"Last_Name": "Undated", "Created_Time": "31/13/2026 25:61"})
    world.clock.advance(600)
    world.export_all()
    world.ingest()

    outcome = watch_runs(world.source)

    assert outcome.failed == ["acme/Leads"]
    tags = world.store.get_tags("acme")
    assert (tags[TAG_STATUS], tags[TAG_LAST_ERROR]) == (STATUS_INGESTION_FAILING, "aep-row-errors")
    (event,) = world.events.of_type(ev.AEP_RUN_FAILED)
    assert (event["module"], event["records_failed"]) == ("Leads", 3)
    assert ("aep-row-errors", True) in world.runs_counted
    assert len(world.dataset_rows("Leads")) == 12  # the good rows landed


# ---- disconnect --------------------------------------------------------------------------------------
def test_disconnect_leaves_nothing_of_the_s3_path_but_the_datasets_unless_asked(world: S3PathWorld) -> None:
    assert world.provision().ok

    result = disconnect(world.path.native, "acme", s3=world.source)

    assert result.secret_deleted and not result.blocked
    counts = objects(world)
    assert {k: v for k, v in counts.items() if "dataset" not in k and "schema" not in k and "field group" not in k} == {
        k: 0 for k in counts if "dataset" not in k and "schema" not in k and "field group" not in k
    }
    assert all(counts[f"{m} dataset"] == 1 for m in MODULES)
    assert world.keys("state/acme/") == []


def test_disconnect_with_delete_datasets_leaves_nothing(world: S3PathWorld) -> None:
    assert world.provision().ok
    world.export_all()

    result = disconnect(world.path.native, "acme", s3=world.source, delete_datasets=True)

    assert result.secret_deleted
    assert set(objects(world).values()) == {0}
    assert world.keys("state/acme/") == []


# ---- the reader's key, rotated under AEP's feet ---------------------------------------------------------
def held_key(world: S3PathWorld) -> str:
    (base,) = [c for c in world.adobe.connections_in("prod") if c["connectionSpec"]["id"] == S3_CONNECTION_SPEC]
    return str(base["auth"]["params"]["s3AccessKey"])


def test_the_reader_key_rotates_under_a_provisioned_connection_and_aep_keeps_reading(world: S3PathWorld) -> None:
    assert world.provision().ok
    old = world.reader_key["access_key_id"]
    assert held_key(world) == old

    _, error = rotate(world)

    assert error is None
    (key,) = [k["AccessKeyId"] for k in world.iam.list_access_keys(UserName=READER_USER)["AccessKeyMetadata"]]
    assert key != old and held_key(world) == key and world.aep_state().reader_key_id == key
    (event,) = world.events.of_type(ev.READER_KEY_ROTATED)
    assert event == {"access_key_id_suffix": key[-4:], "base_connections": 1}
    world.export_all()
    world.ingest()
    assert len(world.dataset_rows("Leads")) == 12  # AEP read the new files with the new key
    patches = len(world.adobe.calls("/data/foundation/flowservice/connections/", "PATCH"))
    assert world.provision().ok  # provisioning finds the key in place: no PATCH
    assert len(world.adobe.calls("/data/foundation/flowservice/connections/", "PATCH")) == patches


def test_a_rotation_whose_test_fails_leaves_aep_on_the_old_key(world: S3PathWorld) -> None:
    assert world.provision().ok
    old = world.reader_key["access_key_id"]

    _, error = rotate(world, fail_explore=True)

    assert error is not None
    assert held_key(world) == old and world.aep_state().reader_key_id == old
    current = json.loads(world.sm.get_secret_value(SecretId=f"{PREFIX}/aep-s3-reader")["SecretString"])
    assert current["access_key_id"] == old
    assert world.events.of_type(ev.READER_KEY_ROTATED) == []
