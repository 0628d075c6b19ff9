"""Provisioning creates or updates exactly one AEP base connection, and tidies Zoho tokens after it.

Each test runs the real use case against the Adobe and Zoho emulators on 127.0.0.1 and moto.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from local.emulators.base import Fault
from tests.support.aep import Bench, FlakyOnce, adobe_fixture, bench_fixture  # noqa: F401
from tests.support.constants import CLIENT_ID, EU_SECRET
from tests.support.refresh_world import edited
from zoho_aep.adapters.adobe.flow import ZOHO_CRM_SPEC_ID
from zoho_aep.domain import events as ev
from zoho_aep.domain.connection import CLAIM_KEY as CLAIM_FIELD
from zoho_aep.domain.connection import (
    STATUS_ACTIVE,
    STATUS_NEEDS_REAUTH,
    STATUS_PROVISIONING_FAILED,
    STATUS_REFRESH_FAILING,
    TAG_BASE_CONNECTION_ID,
    TAG_ETAG,
    TAG_LAST_ERROR,
    TAG_MODULES,
    TAG_SANDBOX,
    TAG_STATUS,
    TAG_SUPERSEDED,
)
from zoho_aep.domain.errors import AdobeUnavailable, StoreError
from zoho_aep.usecases.claims import CLAIM_SECONDS
from zoho_aep.usecases.provision import etag_tag_value
from zoho_aep.wiring import CALLBACK_POLICY

REVOKE_PATH = "/oauth/v2/token/revoke"


def stale_etag_answer() -> dict[str, Any]:
    return {
        "type": "https://ns.adobe.com/aep/errors/FLOW-1404-412",
        "title": "Version not matching",
        "status": 412,
        "report": {"request-id": "req-412"},
    }


# ---- the first run ---------------------------------------------------------------------------------
def test_first_run_posts_exactly_the_documented_body(bench: Bench) -> None:
    bench.authorize(dc="eu")
    secret = bench.secret()

    assert bench.provision().ok

    posts = bench.flow_calls("/connections", "POST")
    assert len(posts) == 1
    body = posts[0].json()
    assert set(body) == {"name", "description", "auth", "connectionSpec"}
    assert body["name"] == "zoho-aep acme"
    assert isinstance(body["description"], str) and body["description"]
    assert body["auth"] == {
        "specName": "Basic Authentication",
        "params": {
            "endpoint": bench.zoho.api_domain("eu"),
            "accountsUrl": bench.zoho.accounts_url("eu"),
            "clientId": CLIENT_ID,
            "clientSecret": EU_SECRET,  # the data center's own secret, not the shared one
            "accessToken": secret["access_token"],
            "refreshToken": secret["refresh_token"],
        },
    }
    assert body["connectionSpec"] == {"id": ZOHO_CRM_SPEC_ID, "version": "1.0"}


def test_first_run_records_id_etag_sandbox_modules_and_announces_it(bench: Bench) -> None:
    bench.authorize()

    result = bench.provision()

    (record,) = bench.adobe.connections_in("prod")
    tags = bench.tags()
    assert result.ok and result.created and not result.adopted
    assert tags[TAG_BASE_CONNECTION_ID] == record["id"] == result.base_connection_id
    assert tags[TAG_ETAG] == record["etag"].strip('"') == etag_tag_value(record["etag"])
    assert tags[TAG_SANDBOX] == "prod"
    assert tags[TAG_MODULES] == str(len(bench.adobe.modules)) == str(len(result.modules))
    assert tags[TAG_STATUS] == STATUS_ACTIVE
    assert bench.events.of_type(ev.BASE_CONNECTION_PROVISIONED) == [
        {"connection": "acme", "base_connection_id": record["id"], "sandbox": "prod", "created": True}
    ]


def test_verification_explores_the_root_and_reports_the_modules_aep_sees(bench: Bench) -> None:
    bench.adobe.modules = ["Leads", "Contacts", "Deals"]
    bench.authorize()

    result = bench.provision()

    (explore,) = bench.flow_calls(f"/connections/{result.base_connection_id}/explore", "GET")
    assert explore.query == {"objectType": "root"}
    assert result.modules == ("Leads", "Contacts", "Deals")
    assert bench.tags()[TAG_MODULES] == "3"
    assert any(r.get("module_count") == 3 for r in bench.log_records())


def test_every_flow_call_names_the_connections_sandbox(bench: Bench) -> None:
    bench.adobe.add_sandbox("dev")
    bench.authorize(sandbox="dev")

    assert bench.provision().ok
    assert bench.provision().ok

    calls = bench.flow_calls()
    assert len(calls) >= 8
    assert {c.header("x-sandbox-name") for c in calls} == {"dev"}
    assert len(bench.adobe.connections_in("dev")) == 1
    assert bench.adobe.connections_in("prod") == []
    assert bench.tags()[TAG_SANDBOX] == "dev"


# ---- never a duplicate -----------------------------------------------------------------------------
def test_running_twice_leaves_exactly_one_base_connection(bench: Bench) -> None:
    bench.authorize()

    first = bench.provision()
    second = bench.provision()

    assert len(bench.adobe.connections) == 1
    assert second.base_connection_id == first.base_connection_id
    assert (first.created, second.created) == (True, False)
    assert len(bench.flow_calls("/connections", "POST")) == 1


def test_a_crash_between_create_and_record_is_adopted_not_duplicated(bench: Bench) -> None:
    bench.authorize()
    bench.store.set_tags = FlakyOnce(  # type: ignore[method-assign]
        bench.store.set_tags, StoreError("Secrets Manager refused to tag (simulated crash).")
    )

    crashed = bench.provision()
    assert not crashed.ok and crashed.retryable
    assert TAG_BASE_CONNECTION_ID not in bench.tags()
    (orphan,) = bench.adobe.connections.values()

    recovered = bench.provision()

    assert recovered.ok and recovered.adopted and not recovered.created
    assert list(bench.adobe.connections) == [orphan["id"]]
    assert bench.tags()[TAG_BASE_CONNECTION_ID] == orphan["id"]
    assert len(bench.flow_calls("/connections", "POST")) == 1


def test_a_lost_create_answer_adopts_what_adobe_created(bench: Bench) -> None:
    bench.authorize()

    def create_then_lose_the_answer(create: Callable[..., Any], body: Any) -> Any:
        create(body)
        raise AdobeUnavailable("The gateway timed out after Adobe created it.")

    bench.around_flow("create_connection", create_then_lose_the_answer)

    result = bench.provision()

    assert result.ok and result.created
    assert list(bench.adobe.connections) == [result.base_connection_id]


def test_a_recorded_id_that_adobe_no_longer_has_is_replaced_by_one_new_connection(bench: Bench) -> None:
    bench.authorize()
    old = bench.provision().base_connection_id
    assert old is not None
    del bench.adobe.connections[old]  # someone deleted it in the AEP UI

    result = bench.provision()

    assert result.ok and result.created and result.base_connection_id != old
    assert list(bench.adobe.connections) == [result.base_connection_id]
    assert bench.tags()[TAG_BASE_CONNECTION_ID] == result.base_connection_id


def test_a_concurrent_run_holding_the_claim_makes_this_one_retry_later(bench: Bench) -> None:
    bench.authorize()
    bench.store.write(
        "acme", lambda v: edited("acme", v, **{CLAIM_FIELD: {"id": "other", "until": bench.clock() + 100}})
    )

    blocked = bench.provision()

    assert (blocked.ok, blocked.reason_code, blocked.retryable) == (False, "aep-provisioning-in-progress", True)
    assert bench.flow_calls("/connections", "POST") == []
    assert bench.tags()[TAG_STATUS] == STATUS_ACTIVE  # a passing failure marks nothing

    bench.clock.advance(CLAIM_SECONDS)  # the other run died: its claim expires
    assert bench.provision().ok
    assert CLAIM_FIELD not in bench.secret()
    assert len(bench.adobe.connections) == 1


# ---- re-authorization ------------------------------------------------------------------------------
def test_reauthorization_patches_the_existing_connection_with_the_new_tokens(bench: Bench) -> None:
    bench.authorize()
    conn_id = bench.provision().base_connection_id
    assert conn_id is not None
    new_refresh = bench.authorize()
    secret = bench.secret()

    result = bench.provision()

    assert result.ok and not result.created and result.base_connection_id == conn_id
    patch = bench.flow_calls(f"/connections/{conn_id}", "PATCH")[-1]
    assert patch.json() == [
        {
            "op": "replace",
            "path": "/auth/params",
            "value": {
                "endpoint": bench.zoho.api_domain("eu"),
                "accountsUrl": bench.zoho.accounts_url("eu"),
                "clientId": CLIENT_ID,
                "clientSecret": EU_SECRET,
                "accessToken": secret["access_token"],
                "refreshToken": new_refresh,
            },
        }
    ]
    assert bench.adobe.connections[conn_id]["auth"]["params"]["refreshToken"] == new_refresh
    assert bench.tags()[TAG_ETAG] == etag_tag_value(bench.adobe.connections[conn_id]["etag"])


def test_reauthorization_revokes_the_old_refresh_token_after_the_patch_not_before(bench: Bench) -> None:
    old_refresh = bench.authorize()
    conn_id = bench.provision().base_connection_id
    new_refresh = bench.authorize()
    assert bench.secret()["replaced_refresh_token"] == old_refresh

    result = bench.provision()

    (patch,) = bench.flow_calls(f"/connections/{conn_id}", "PATCH")
    (revoke,) = bench.zoho.calls(REVOKE_PATH)
    assert revoke.form == {"token": old_refresh}
    assert revoke.server == bench.zoho.accounts_url("eu")
    assert patch.at < revoke.at
    assert bench.zoho.refresh_token_info(old_refresh)["revoked"]
    assert not bench.zoho.refresh_token_info(new_refresh)["revoked"]
    assert "replaced_refresh_token" not in bench.secret()
    assert bench.secret()["refresh_token"] == new_refresh
    assert result.revoked_refresh_tokens == 1


def test_every_queued_replaced_token_is_revoked_and_forgotten(bench: Bench) -> None:
    first = bench.authorize()
    bench.provision()
    second = bench.authorize()
    third = bench.authorize()  # two consents before provisioning ran again
    assert bench.secret()["replaced_refresh_token"] == second
    assert bench.secret()["revoke_pending"] == [first]

    result = bench.provision()

    assert sorted(c.form["token"] for c in bench.zoho.calls(REVOKE_PATH)) == sorted([first, second])
    assert bench.zoho.live_refresh_tokens(CLIENT_ID) == [third]
    assert not {"replaced_refresh_token", "revoke_pending"} & set(bench.secret())
    assert result.revoked_refresh_tokens == 2


def test_without_an_aep_connection_replaced_tokens_are_revoked_right_away(bench: Bench) -> None:
    first = bench.authorize()
    bench.authorize()  # re-consent before AEP ever got a base connection
    bench.adobe.zoho_spec_state = "gone"  # and provisioning cannot succeed

    result = bench.provision()

    assert not result.ok
    assert bench.zoho.refresh_token_info(first)["revoked"]
    assert "replaced_refresh_token" not in bench.secret()


def test_when_the_update_fails_the_token_aep_may_still_use_is_kept(bench: Bench) -> None:
    first = bench.authorize()
    bench.provision()
    bench.authorize()
    bench.adobe.inject(Fault("/data/foundation/flowservice/connections/", status=503, method="PATCH"), times=10)

    result = bench.provision()

    assert not result.ok and result.retryable
    assert bench.zoho.calls(REVOKE_PATH) == []
    assert not bench.zoho.refresh_token_info(first)["revoked"]
    assert bench.secret()["replaced_refresh_token"] == first


def test_a_revocation_zoho_does_not_answer_is_kept_for_the_next_run(bench: Bench) -> None:
    first = bench.authorize()
    bench.provision()
    bench.authorize()
    bench.zoho.inject(Fault(REVOKE_PATH, status=503), times=CALLBACK_POLICY.attempts)  # one run's worth

    result = bench.provision()

    assert result.ok  # the base connection is fine; the revocation waits
    assert bench.secret()["replaced_refresh_token"] == first
    assert bench.provision().revoked_refresh_tokens == 1
    assert bench.zoho.refresh_token_info(first)["revoked"]


# ---- updates Adobe pushes back on -------------------------------------------------------------------
def test_a_stale_etag_is_reread_and_the_patch_retried_once(bench: Bench) -> None:
    bench.authorize()
    conn_id = bench.provision().base_connection_id
    bench.authorize()
    bench.adobe.inject(
        Fault(
            f"/data/foundation/flowservice/connections/{conn_id}", status=412, method="PATCH", body=stale_etag_answer()
        )
    )

    result = bench.provision()

    assert result.ok and conn_id is not None
    assert len(bench.flow_calls(f"/connections/{conn_id}", "PATCH")) == 2
    assert len([c for c in bench.flow_calls(f"/connections/{conn_id}", "GET") if c.path.endswith(conn_id)]) == 2


def test_a_second_stale_etag_gives_up_for_a_later_retry(bench: Bench) -> None:
    bench.authorize()
    conn_id = bench.provision().base_connection_id
    bench.authorize()
    bench.adobe.inject(
        Fault(
            f"/data/foundation/flowservice/connections/{conn_id}", status=412, method="PATCH", body=stale_etag_answer()
        ),
        times=5,
    )

    result = bench.provision()

    assert (result.ok, result.reason_code, result.retryable) == (False, "aep-etag-mismatch", True)
    assert result.adobe_code == "1404-412" and result.request_id == "req-412"
    assert len(bench.flow_calls(f"/connections/{conn_id}", "PATCH")) == 2


def test_patch_refused_creates_a_new_connection_then_deletes_the_old(bench: Bench) -> None:
    bench.authorize()
    old = bench.provision().base_connection_id
    new_refresh = bench.authorize()
    bench.adobe.patch_refused = True

    result = bench.provision()

    assert result.ok and result.created and result.base_connection_id is not None and result.base_connection_id != old
    assert list(bench.adobe.connections) == [result.base_connection_id]
    assert bench.adobe.connections[result.base_connection_id]["auth"]["params"]["refreshToken"] == new_refresh
    assert bench.tags()[TAG_BASE_CONNECTION_ID] == result.base_connection_id
    (post,) = bench.flow_calls("/connections", "POST")[1:]
    (delete,) = bench.flow_calls(f"/connections/{old}", "DELETE")
    assert post.at < delete.at
    assert bench.events.of_type(ev.BASE_CONNECTION_PROVISIONED)[-1]["created"] is True


def test_a_lost_create_during_a_replace_never_adopts_and_deletes_the_old_connection(bench: Bench) -> None:
    old_refresh = bench.authorize()
    old = bench.provision().base_connection_id
    bench.authorize()
    bench.adobe.patch_refused = True
    # Every attempt at the new connection fails before Adobe creates anything.
    bench.adobe.inject(
        Fault("/data/foundation/flowservice/connections", kind="status", status=503, method="POST"), times=8
    )

    result = bench.provision()

    assert not result.ok and result.retryable
    assert list(bench.adobe.connections) == [old]  # the working connection is untouched
    assert bench.tags()[TAG_BASE_CONNECTION_ID] == old
    assert not bench.zoho.refresh_token_info(old_refresh)["revoked"]  # AEP still refreshes with it


def test_patch_refused_and_old_in_use_keeps_both_and_reports_it(bench: Bench) -> None:
    old_refresh = bench.authorize()
    old = bench.provision().base_connection_id
    assert old is not None
    bench.authorize()
    bench.adobe.patch_refused = True
    bench.adobe.set_in_use(old, ["flow-1"])

    result = bench.provision()

    assert result.ok and result.superseded_base_connection_ids == (old,)
    assert set(bench.adobe.connections) == {old, result.base_connection_id}
    assert bench.tags()[TAG_SUPERSEDED] == old
    assert bench.tags()[TAG_BASE_CONNECTION_ID] == result.base_connection_id
    event = bench.events.of_type(ev.BASE_CONNECTION_PROVISIONED)[-1]
    assert event["superseded_base_connection_ids"] == [old]
    warning = [r for r in bench.log_records() if r.get("outcome") == "provisioned"][-1]
    assert warning["level"] == "WARNING" and "dataflows" in warning["message"]
    assert warning["superseded_base_connection_ids"] == [old]
    # The kept connection still refreshes with the old token: it must stay valid.
    assert not bench.zoho.refresh_token_info(old_refresh)["revoked"]
    assert bench.secret()["replaced_refresh_token"] == old_refresh


def test_a_kept_connection_is_deleted_and_its_token_revoked_once_dataflows_let_go(bench: Bench) -> None:
    old_refresh = bench.authorize()
    old = bench.provision().base_connection_id
    assert old is not None
    bench.authorize()
    bench.adobe.patch_refused = True
    bench.adobe.set_in_use(old, ["flow-1"])
    bench.provision()
    bench.adobe.set_in_use(old, [])  # the user moved the dataflow to the new connection

    result = bench.provision()

    assert result.ok and result.superseded_base_connection_ids == ()
    assert list(bench.adobe.connections) == [result.base_connection_id]
    assert TAG_SUPERSEDED not in bench.tags()
    assert bench.zoho.refresh_token_info(old_refresh)["revoked"]
    assert "replaced_refresh_token" not in bench.secret()


# ---- status -----------------------------------------------------------------------------------------
def test_success_clears_an_earlier_provisioning_failure(bench: Bench) -> None:
    bench.authorize()
    bench.adobe.missing_permission = True
    bench.provision()
    assert bench.tags()[TAG_STATUS] == STATUS_PROVISIONING_FAILED
    bench.adobe.missing_permission = False

    assert bench.provision().ok

    assert bench.tags()[TAG_STATUS] == STATUS_ACTIVE
    assert TAG_LAST_ERROR not in bench.tags()


def test_success_leaves_the_refreshers_verdict_alone(bench: Bench) -> None:
    bench.authorize()
    bench.store.set_tags("acme", {TAG_STATUS: STATUS_REFRESH_FAILING, TAG_LAST_ERROR: "zoho-unavailable"})

    assert bench.provision().ok

    assert bench.tags()[TAG_STATUS] == STATUS_REFRESH_FAILING
    assert bench.tags()[TAG_LAST_ERROR] == "zoho-unavailable"


def test_a_needs_reauth_marked_during_the_run_is_not_clobbered(bench: Bench) -> None:
    bench.authorize()

    def explore_while_the_refresher_finds_consent_revoked(explore: Callable[..., Any], conn_id: str) -> Any:
        bench.store.set_tags("acme", {TAG_STATUS: STATUS_NEEDS_REAUTH, TAG_LAST_ERROR: "zoho-consent-revoked"})
        return explore(conn_id)

    bench.around_flow("explore_root", explore_while_the_refresher_finds_consent_revoked)

    assert bench.provision().ok

    assert bench.tags()[TAG_STATUS] == STATUS_NEEDS_REAUTH
    assert bench.tags()[TAG_LAST_ERROR] == "zoho-consent-revoked"
