"""The secret store: explicit AWSCURRENT reads, compare-and-swap writes, tags, listing without values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.aws_faults import AwsFault, AwsFaults, no_backoff
from tests.support.constants import PREFIX
from zoho_aep.adapters.secrets import AppSecrets, ConnectionStore
from zoho_aep.domain.connection import Connection
from zoho_aep.domain.errors import ConfigError, ConnectionPendingDeletion, WriteConflict


def conn(value: dict[str, Any]) -> Connection:
    """A connection value holding just these JSON keys (the store's CAS does not care what they mean)."""
    return Connection.from_value("acme", value)


def plain(value: Connection | None) -> dict[str, Any]:
    """The JSON keys a value holds, without the schema version the store adds."""
    return {k: v for k, v in (value.to_value() if value else {}).items() if k != "schema"}


@pytest.fixture
def store(sm: Any) -> ConnectionStore:
    return ConnectionStore(PREFIX, sm, sleep=lambda s: None)


def test_write_creates_the_secret_with_tags(store: ConnectionStore, sm: Any) -> None:
    result = store.write(
        "acme", lambda current: conn({"connection": "acme", "n": 1}), create_tags={"zoho-aep:status": "active"}
    )
    assert result.created
    assert json.loads(sm.get_secret_value(SecretId=f"{PREFIX}/connections/acme")["SecretString"])["n"] == 1
    assert store.get_tags("acme") == {"zoho-aep:status": "active"}


def test_update_moves_awscurrent_to_the_new_version(store: ConnectionStore, sm: Any) -> None:
    store.write("acme", lambda current: conn({"n": 1}))
    result = store.write("acme", lambda current: conn({**plain(current), "n": 2}))
    assert not result.created and plain(result.previous) == {"n": 1}
    stored = store.require("acme")
    assert plain(stored.connection) == {"n": 2} and stored.version_id == result.version_id
    versions = sm.list_secret_version_ids(SecretId=f"{PREFIX}/connections/acme")["Versions"]
    current = [v["VersionId"] for v in versions if "AWSCURRENT" in v.get("VersionStages", [])]
    assert current == [result.version_id]


def test_a_concurrent_writer_between_read_and_write_is_not_lost(store: ConnectionStore) -> None:
    store.write("acme", lambda current: conn({"a": 0, "b": 0}))
    interleaved = {"done": False}

    def mutate(current: Connection | None) -> Connection:
        assert current is not None
        if not interleaved["done"]:
            interleaved["done"] = True
            # Another function writes after our read, before our compare-and-swap.
            store.write("acme", lambda other: conn({**plain(other), "b": 1}))
        return conn({**plain(current), "a": 1})

    store.write("acme", mutate)
    assert plain(store.require("acme").connection) == {"a": 1, "b": 1}


def test_unchanged_value_writes_nothing(store: ConnectionStore, sm: Any) -> None:
    first = store.write("acme", lambda current: conn({"n": 1}))
    again = store.write("acme", lambda current: current)
    assert not again.changed and again.version_id == first.version_id


def test_a_write_whose_stage_move_answer_was_lost_is_applied_once(store: ConnectionStore, sm: Any) -> None:
    store.write("acme", lambda current: conn({"n": 0}))
    faults = AwsFaults(sm)
    faults.add(AwsFault("UpdateSecretVersionStage", "lost", times=1))  # done by AWS, answer lost
    calls: list[int] = []

    def increment(current: Connection | None) -> Connection:
        assert current is not None
        calls.append(plain(current)["n"])
        return conn({"n": plain(current)["n"] + 1})

    try:
        with no_backoff():
            result = store.write("acme", increment)
    finally:
        faults.close()

    assert plain(store.require("acme").connection) == {"n": 1} and result.changed
    assert calls == [0], "botocore's retry was refused because the move was done; the change must not repeat"


def _count_reads(sm: Any) -> list[str]:
    reads: list[str] = []
    sm.meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue", lambda params, **kw: reads.append(params["SecretId"])
    )
    return reads


def test_a_write_from_the_callers_fresh_read_reads_no_second_time(store: ConnectionStore, sm: Any) -> None:
    store.write("acme", lambda current: conn({"n": 1}))
    read = store.require("acme")
    reads = _count_reads(sm)

    store.write("acme", lambda current: conn({**plain(current), "n": 2}), read=read)

    assert reads == []
    assert plain(store.require("acme").connection) == {"n": 2}


def test_a_stale_read_handed_to_write_loses_the_swap_and_nothing_is_lost(store: ConnectionStore) -> None:
    store.write("acme", lambda current: conn({"a": 0, "b": 0}))
    stale = store.require("acme")
    store.write("acme", lambda current: conn({**plain(current), "b": 1}))  # another function, after our read

    store.write("acme", lambda current: conn({**plain(current), "a": 1}), read=stale)

    assert plain(store.require("acme").connection) == {"a": 1, "b": 1}


def test_leaving_the_secret_unchanged_is_decided_on_a_fresh_read_only(store: ConnectionStore, sm: Any) -> None:
    store.write("acme", lambda current: conn({"n": 1}))
    stale = store.require("acme")
    store.write("acme", lambda current: conn({"n": 2}))
    reads = _count_reads(sm)

    result = store.write("acme", lambda current: None if plain(current).get("n") == 1 else conn({"n": 3}), read=stale)

    assert reads == [f"{PREFIX}/connections/acme"]
    assert result.changed and plain(store.require("acme").connection) == {"n": 3}


def test_get_many_reads_current_values_in_one_call_and_leaves_out_what_it_cannot_read(
    store: ConnectionStore, sm: Any
) -> None:
    store.write("acme", lambda current: conn({"n": 1}))
    store.write("acme", lambda current: conn({"n": 2}))
    store.write("beta", lambda current: conn({"n": 3}))
    sm.create_secret(Name=f"{PREFIX}/connections/broken", SecretString="not json")
    reads = _count_reads(sm)

    found = store.get_many(["acme", "beta", "broken", "gone"])

    assert reads == []  # one BatchGetSecretValue, no single reads
    assert {name: plain(stored.connection) for name, stored in found.items()} == {"acme": {"n": 2}, "beta": {"n": 3}}
    assert found["acme"].version_id == store.require("acme").version_id


def test_get_many_leaves_an_invalid_name_to_be_refused_on_its_own(store: ConnectionStore) -> None:
    store.write("acme", lambda current: conn({"n": 1}))

    found = store.get_many(["acme", "Not A Name"])

    assert list(found) == ["acme"]


def test_losing_every_race_gives_up_with_a_conflict(sm: Any) -> None:
    store = ConnectionStore(PREFIX, sm, max_attempts=3, sleep=lambda s: None)
    store.write("acme", lambda current: conn({"n": 0}))

    def always_interleaved(current: Connection | None) -> Connection:
        store_other = ConnectionStore(PREFIX, sm, sleep=lambda s: None)
        store_other.write("acme", lambda other: conn({"n": plain(other).get("n", 0) + 1}))
        return conn({"n": -1})

    with pytest.raises(WriteConflict):
        store.write("acme", always_interleaved)


def test_listing_reads_tags_but_no_secret_value(store: ConnectionStore, sm: Any) -> None:
    for i in range(3):
        store.write(f"c{i}", lambda current: conn({"x": 1}), create_tags={"zoho-aep:status": "active"})
    sm.create_secret(Name=f"{PREFIX}/zoho-client", SecretString="{}")
    calls: list[str] = []
    sm.meta.events.register("before-call.secrets-manager", lambda model, **kw: calls.append(model.name))
    listed = store.list()
    assert sorted(s.name for s in listed) == ["c0", "c1", "c2"]
    assert all(s.tags["zoho-aep:status"] == "active" for s in listed)
    assert calls == ["ListSecrets"]


def test_secret_scheduled_for_deletion_is_reported(store: ConnectionStore, sm: Any) -> None:
    store.write("acme", lambda current: conn({"n": 1}))
    sm.delete_secret(SecretId=f"{PREFIX}/connections/acme", RecoveryWindowInDays=7)
    with pytest.raises(ConnectionPendingDeletion):
        store.get("acme")


def test_tags_are_set_and_removed(store: ConnectionStore) -> None:
    store.write("acme", lambda current: conn({"n": 1}), create_tags={"zoho-aep:last-error": "zoho-throttled"})
    store.set_tags("acme", {"zoho-aep:status": "active"}, remove=("zoho-aep:last-error",))
    assert store.get_tags("acme") == {"zoho-aep:status": "active"}


def test_empty_zoho_client_secret_tells_the_operator_to_configure(sm: Any) -> None:
    sm.create_secret(Name=f"{PREFIX}/zoho-client", SecretString="{}")
    with pytest.raises(ConfigError) as info:
        AppSecrets(PREFIX, sm).zoho_client()
    assert info.value.code == "zoho-client-not-configured"
    assert "zoho-aep configure" in info.value.message


def test_per_data_center_client_secret_replaces_the_shared_one(sm: Any) -> None:
    value = {"client_id": "1000.X", "client_secret": "shared-secret", "client_secrets": {"eu": "eu-secret"}}
    sm.create_secret(Name=f"{PREFIX}/zoho-client", SecretString=json.dumps(value))
    creds = AppSecrets(PREFIX, sm).zoho_client()
    assert creds.secret_for("eu") == "eu-secret"
    assert creds.secret_for("us") == "shared-secret"


class _ReplayingClient:
    """A client whose stage move succeeds, then is 'retried' by botocore and refused (a lost answer)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def update_secret_version_stage(self, **kwargs: Any) -> Any:
        self._real.update_secret_version_stage(**kwargs)
        return self._real.update_secret_version_stage(**kwargs)  # the retry: RemoveFromVersionId is stale now


def test_a_write_whose_answer_was_lost_is_not_mistaken_for_a_lost_race(sm: Any) -> None:
    direct = ConnectionStore(PREFIX, sm, sleep=lambda s: None)
    direct.write("acme", lambda current: conn({"n": 0}))
    store = ConnectionStore(PREFIX, _ReplayingClient(sm), sleep=lambda s: None)
    runs: list[Connection | None] = []

    def mutate(current: Connection | None) -> Connection:
        runs.append(current)
        return conn({"n": plain(current).get("n", 0) + 1})

    result = store.write("acme", mutate)

    assert len(runs) == 1  # mutate ran once: its own write was recognised
    assert result.changed and plain(direct.require("acme").connection) == {"n": 1}
