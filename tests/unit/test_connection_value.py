"""The connection secret's value as a typed object: the JSON contract kept exactly, unknown keys kept."""

from __future__ import annotations

import pytest

from zoho_aep.domain.connection import SCHEMA_VERSION, Connection, ProvisioningClaim
from zoho_aep.domain.errors import ConnectionCorrupt, ConnectionSchemaUnsupported

STORED = {
    "schema": 1,
    "connection": "acme",
    "data_center": "eu",
    "accounts_url": "https://accounts.zoho.eu",
    "api_domain": "https://www.zohoapis.eu",
    "client_id": "1000.X",
    "access_token": "1000.a",
    "refresh_token": "1000.r",
    "expires_at": "2026-11-22T15:04:05Z",
    "scope": "ZohoCRM.modules.READ",
    "zoho_org_id": "123",
    "zoho_org_name": "Acme",
    "adobe_sandbox": "prod",
    "authorized_at": "2026-11-22T14:04:05Z",
    "replaced_refresh_token": "1000.old",
    "revoke_pending": ["1000.older"],
    "state_nonces": {"n1": 1795000900},
    "token_mints": [1795000000],
    "refresh_failures": 2,
    "last_refresh_error": "zoho-unavailable",
    "throttled_until": 1795000600,
    "aep_provisioning_claim": {"id": "c1", "until": 1795000150},
}


def test_a_stored_value_reads_into_fields_and_writes_back_unchanged() -> None:
    value = Connection.from_value("acme", STORED)

    assert (value.data_center, value.expires_epoch, value.refresh_failures) == ("eu", 1795359845, 2)
    assert value.provisioning_claim == ProvisioningClaim("c1", 1795000150)
    assert value.to_value() == STORED


def test_keys_this_version_does_not_know_are_kept_as_found() -> None:
    value = Connection.from_value("acme", {**STORED, "aep_path": {"s3": [1, 2]}, "note": "by hand"})

    value.access_token = "1000.b"

    assert value.extra == {"aep_path": {"s3": [1, 2]}, "note": "by hand"}
    assert value.to_value() == {**STORED, "access_token": "1000.b", "aep_path": {"s3": [1, 2]}, "note": "by hand"}


def test_a_known_key_of_the_wrong_type_reads_as_absent_and_is_written_back_untouched() -> None:
    value = Connection.from_value("acme", {**STORED, "refresh_token": 42, "adobe_sandbox": ["prod"]})

    assert value.refresh_token is None and value.adobe_sandbox is None
    assert value.to_value()["refresh_token"] == 42 and value.to_value()["adobe_sandbox"] == ["prod"]
    value.refresh_token = "1000.new"
    assert value.to_value()["refresh_token"] == "1000.new"


def test_a_value_without_a_schema_version_is_read_as_the_current_one() -> None:
    value = Connection.from_value("acme", {k: v for k, v in STORED.items() if k != "schema"})
    assert value.to_value()["schema"] == SCHEMA_VERSION


@pytest.mark.parametrize("schema", [SCHEMA_VERSION + 1, 99])
def test_a_value_written_by_a_newer_version_is_refused(schema: int) -> None:
    with pytest.raises(ConnectionSchemaUnsupported) as info:
        Connection.from_value("acme", {**STORED, "schema": schema})
    assert info.value.code == "connection-schema-unsupported" and not info.value.retryable


@pytest.mark.parametrize("value", [None, [], "text", {"schema": "1"}, {"schema": True}])
def test_a_value_that_is_not_a_connection_is_refused(value: object) -> None:
    with pytest.raises(ConnectionCorrupt):
        Connection.from_value("acme", value)


def test_absent_and_empty_fields_are_left_out_of_the_json() -> None:
    assert Connection(connection="acme").to_value() == {"schema": SCHEMA_VERSION, "connection": "acme"}


def test_a_new_refresh_token_queues_the_replaced_ones_so_none_is_forgotten() -> None:
    value = Connection(refresh_token="r1")

    value.take_refresh_token("r2")
    value.take_refresh_token("r3")

    assert (value.refresh_token, value.replaced_refresh_token, value.revoke_pending) == ("r3", "r2", ["r1"])
    assert value.revocable_refresh_tokens == ["r2", "r1"]
    assert value.refresh_tokens == ["r3", "r2", "r1"]


def test_the_same_refresh_token_again_replaces_nothing() -> None:
    value = Connection(refresh_token="r1")
    value.take_refresh_token("r1")
    assert value.replaced_refresh_token is None and value.revocable_refresh_tokens == []


def test_revoked_tokens_are_forgotten_and_others_stay() -> None:
    value = Connection(refresh_token="r3", replaced_refresh_token="r2", revoke_pending=["r1", "r0"])

    assert value.forget_refresh_tokens({"r2", "r0"})

    assert (value.replaced_refresh_token, value.revoke_pending) == (None, ["r1"])
    assert not value.forget_refresh_tokens({"r9"})


def test_secret_values_are_every_token_the_value_holds() -> None:
    value = Connection.from_value("acme", STORED)
    assert sorted(value.secret_values()) == sorted(["1000.a", "1000.r", "1000.old", "1000.older"])
