"""The AEP reader key's rotation, end to end: moto's IAM, Secrets Manager and S3, a Flow Service fake.

Each step runs through the function's edge with Secrets Manager's event. A full rotation gives every
base connection the new key and deletes the old one; a rotation that fails at any step leaves the old
key working and current; every step may run twice; a foreign secret or version is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.leaks import find_leaks
from tests.support.reader_rotation import READER_USER, SECRET_NAME, RotationWorld, begin_rotation
from zoho_aep.adapters.iam import ReaderUserKeys
from zoho_aep.adapters.secrets import RotatingSecret
from zoho_aep.domain import events as ev
from zoho_aep.domain.errors import ReaderKeyStoreError, ReaderRotationRefused, StoreError, ZohoAepError
from zoho_aep.usecases.reader_key import CREATE, FINISH, SET, STEPS, TEST


@pytest.fixture
def world(sm: Any, s3: Any) -> Iterator[RotationWorld]:
    from zoho_aep.adapters import aws as aws_clients

    bench = RotationWorld(sm, s3, aws_clients.client("iam"))
    yield bench
    bench.close()


@pytest.fixture
def connected(world: RotationWorld) -> RotationWorld:
    """A stack whose first key exists, with two base connections (two sandboxes) holding it."""
    world.rotate()
    first = world.current()
    world.connect("acme", "prod", first)
    world.connect("beta", "dev", first)
    world.events.events.clear()
    return world


def no_secret_in_anything(world: RotationWorld, *more: Any) -> None:
    texts = [f"{r.getMessage()} {json.dumps(r.__dict__, default=str)}" for r in world.records]
    texts += world.handler.lines + [json.dumps(world.events.events)] + [str(m) for m in more]
    assert find_leaks(texts, world.every_secret()) == []


# ---- a fresh stack --------------------------------------------------------------------------------
def test_a_fresh_stacks_placeholder_gets_its_first_key_from_the_first_rotation(world: RotationWorld) -> None:
    from zoho_aep.adapters.secrets import AppSecrets

    world.rotate()

    key = AppSecrets(SECRET_NAME.split("/")[0], world.sm).aep_reader()
    assert world.iam_keys() == [key.access_key_id]
    assert world.events.of_type(ev.READER_KEY_ROTATED) == [{"access_key_id_suffix": key.suffix, "base_connections": 0}]


# ---- a full rotation --------------------------------------------------------------------------------
def test_a_rotation_moves_every_base_connection_to_the_new_key_and_deletes_the_old_one(
    connected: RotationWorld,
) -> None:
    world = connected
    old = world.current()

    world.rotate()

    new = world.current()
    assert new.access_key_id != old.access_key_id
    assert world.iam_keys() == [new.access_key_id]  # the old key is gone, the new one is the user's only key
    assert {world.flows.key_of(b) for b in world.flows.connections} == {new.access_key_id}
    assert {c.params["s3SecretKey"] for c in world.flows.connections.values()} == {new.secret_access_key}
    assert {world.recorded_key("acme"), world.recorded_key("beta")} == {new.access_key_id}
    assert sorted(world.flows.explored) == sorted(world.flows.connections)  # AEP's own test, every connection
    assert world.events.of_type(ev.READER_KEY_ROTATED) == [{"access_key_id_suffix": new.suffix, "base_connections": 2}]
    assert world.failures == []
    no_secret_in_anything(world)


def test_a_stale_etag_is_read_again_once(connected: RotationWorld) -> None:
    world = connected
    world.flows.stale_once = set(world.flows.connections)

    world.rotate()

    assert {world.flows.key_of(b) for b in world.flows.connections} == {world.current().access_key_id}


def test_a_base_connection_made_during_the_rotation_with_the_old_key_gets_the_new_one(
    connected: RotationWorld,
) -> None:
    world = connected
    old = world.current()
    token = world.rotate(steps=(CREATE, SET, TEST))
    late = world.connect("gamma", "prod", old)  # provisioning read AWSCURRENT (still the old key)

    world.step(token, FINISH)

    assert world.flows.key_of(late) == world.current().access_key_id
    assert world.iam_keys() == [world.current().access_key_id]


# ---- failures ---------------------------------------------------------------------------------------
def _break(world: RotationWorld, step: str) -> None:
    if step == CREATE:

        def refuse() -> Any:
            raise ReaderKeyStoreError("IAM refused a new reader key (LimitExceeded).")

        world.deps.user.create = refuse  # type: ignore[method-assign]
    elif step == SET:
        first = sorted(world.flows.connections)[1]  # the second connection refuses: the first was moved
        world.flows.fail_patch = lambda base_id, key_id: base_id == first and key_id != world.current().access_key_id
    elif step == TEST:
        last = sorted(world.flows.connections)[-1]
        world.flows.fail_explore = lambda base_id: base_id == last
    else:

        def refuse_move(*args: Any, **kwargs: Any) -> None:
            raise StoreError("Secrets Manager refused to move AWSCURRENT (InternalServiceError).")

        world.deps.secret.make_current = refuse_move  # type: ignore[method-assign]


@pytest.mark.parametrize("failing", STEPS)
def test_a_rotation_that_fails_at_a_step_leaves_the_old_key_working_and_current(
    connected: RotationWorld, failing: str
) -> None:
    world = connected
    old, version = world.current(), world.current_version()
    token = begin_rotation()
    _break(world, failing)

    with pytest.raises(ZohoAepError) as raised:
        for step in STEPS:
            world.step(token, step)

    assert world.current() == old and world.current_version() == version  # AWSCURRENT unchanged
    assert old.access_key_id in world.iam_keys()  # the old key still works
    if failing != FINISH:  # the connections it moved are back on the current key
        assert {world.flows.key_of(b) for b in world.flows.connections} == {old.access_key_id}
        assert {world.recorded_key("acme"), world.recorded_key("beta")} == {old.access_key_id}
    assert world.failures == [(failing, raised.value.code)]  # counted: the ReaderKeyRotationFailed metric
    assert world.events.of_type(ev.READER_KEY_ROTATED) == []
    no_secret_in_anything(world, raised.value)


@pytest.mark.parametrize("failing", STEPS)
def test_secrets_managers_retry_of_a_failed_rotation_completes_it(connected: RotationWorld, failing: str) -> None:
    world = connected
    token = begin_rotation()
    _break(world, failing)
    with pytest.raises(ZohoAepError):
        world.rotate(token)
    world.deps.user = ReaderUserKeys(READER_USER, world.iam)  # the faults cleared
    world.deps.secret = RotatingSecret(world.sm)
    world.flows.fail_patch = lambda base_id, key_id: False
    world.flows.fail_explore = lambda base_id: False

    world.rotate(token)

    new = world.current()
    assert world.iam_keys() == [new.access_key_id]
    assert {world.flows.key_of(b) for b in world.flows.connections} == {new.access_key_id}


def test_a_failed_step_emits_the_metric_the_alarm_watches(
    connected: RotationWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    from cfnlint.decode import decode_str

    from local.functions import ROOT
    from zoho_aep.adapters.metrics import get_metrics, record_outcome

    world = connected
    metrics = get_metrics("aep-reader-rotation")
    world.deps.on_failure = lambda step, code: record_outcome(metrics, "ReaderKeyRotation", code, failed=True)
    _break(world, TEST)
    with pytest.raises(ZohoAepError):
        world.rotate()

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    seen = {
        (m["Name"], frozenset((d, line[d]) for d in dims))
        for line in lines
        for directive in line["_aws"]["CloudWatchMetrics"]
        for dims in directive["Dimensions"]
        for m in directive["Metrics"]
    }
    template, _ = decode_str((ROOT / "template.yaml").read_text())
    alarm = template["Resources"]["ReaderKeyRotationAlarm"]["Properties"]
    (watched,) = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if m["Id"] == "failed"]
    dims = frozenset((d["Name"], d["Value"]) for d in watched["Dimensions"])
    assert (watched["MetricName"], dims) in seen


# ---- idempotence --------------------------------------------------------------------------------------
def test_each_step_run_twice_does_its_work_once(connected: RotationWorld) -> None:
    world = connected
    token = begin_rotation()
    for step in STEPS:
        world.step(token, step)
        keys, patches = world.iam_keys(), list(world.flows.patches)
        again = world.step(token, step)
        assert again["already_done"] is (step != TEST), step  # a test is simply run again
        assert (world.iam_keys(), world.flows.patches) == (keys, patches), step

    new = world.current()
    assert world.iam_keys() == [new.access_key_id]
    assert len(world.flows.patches) == len(world.flows.connections)  # each connection PATCHed once
    assert len(world.events.of_type(ev.READER_KEY_ROTATED)) == 1


def test_a_leftover_key_from_a_rotation_that_ended_early_makes_room_but_the_current_key_stays(
    connected: RotationWorld,
) -> None:
    world = connected
    current = world.current()
    world.iam.create_access_key(UserName=READER_USER)  # orphan

    world.rotate()

    assert world.iam_keys() == [world.current().access_key_id]
    assert world.current() != current


def test_the_current_key_is_never_deleted_to_make_room(connected: RotationWorld) -> None:
    world = connected
    current = world.current()
    world.iam.create_access_key(UserName=READER_USER)
    token = begin_rotation()

    world.step(token, CREATE)

    assert current.access_key_id in world.iam_keys() and len(world.iam_keys()) == 2


# ---- refusals -------------------------------------------------------------------------------------------
def test_a_foreign_secret_a_foreign_version_and_a_malformed_event_are_refused(connected: RotationWorld) -> None:
    world = connected
    other = world.sm.create_secret(Name="zoho-aep-test/adobe", SecretString="{}")["ARN"]
    keys, current = world.iam_keys(), world.current()
    token = begin_rotation()
    not_staged = world.current_version()  # AWSCURRENT itself is done; a random id is no version at all
    bad = [
        world.event(token, CREATE, secret_id=other),
        world.event(token, CREATE, secret_id="arn:aws:secretsmanager:us-east-1:123456789012:secret:evil-abcdef"),
        world.event("00000000-0000-0000-0000-000000000000", CREATE),
        world.event(token, "deleteSecret"),
        {"SecretId": world.secret_arn, "Step": CREATE},
        {**world.event(token, CREATE), "Extra": "x"},
        "not an event",
    ]
    for event in bad:
        with pytest.raises(ReaderRotationRefused):
            world.app.handle(event)

    assert world.step(not_staged, CREATE)["already_done"] is True
    assert (world.iam_keys(), world.current()) == (keys, current)
    assert world.flows.patches == []


def test_a_version_neither_pending_nor_current_is_refused(connected: RotationWorld) -> None:
    world = connected
    previous = world.current_version()
    world.rotate()  # the old version is now AWSPREVIOUS

    with pytest.raises(ReaderRotationRefused):
        world.step(previous, SET)
