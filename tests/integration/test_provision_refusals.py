"""Every way provisioning can be refused ends in its status, event and reason code, and stops.

Permanent refusals (a retired source, configuration, a connection that cannot be provisioned) mark
the connection ``provisioning-failed`` and are not retried; passing ones (outages, throttling)
change no status, say ``retryable`` and are retried, boundedly.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from local.emulators.adobe import FLOW_PREFIX, IMS_TOKEN_PATH
from local.emulators.base import Fault
from tests.support.aep import (  # noqa: F401
    ADOBE_CLIENT_ID,
    ADOBE_CLIENT_SECRET,
    ADOBE_ORG_ID,
    Bench,
    adobe_fixture,
    adobe_secret,
    bench_fixture,
)
from tests.support.refresh_world import edited
from zoho_aep.domain import events as ev
from zoho_aep.domain.connection import (
    STATUS_ACTIVE,
    STATUS_NEEDS_REAUTH,
    STATUS_PROVISIONING_FAILED,
    TAG_BASE_CONNECTION_ID,
    TAG_LAST_ERROR,
    TAG_STATUS,
)
from zoho_aep.domain.errors import ProvisioningWillRetry
from zoho_aep.edges.adobe_provisioning import ProvisioningApp
from zoho_aep.usecases.aep_path import PathDeps
from zoho_aep.wiring import ADOBE_POLICY

SPEC_PATH = FLOW_PREFIX + "/connectionSpecs"


def app(bench: Bench) -> ProvisioningApp:
    return ProvisioningApp(lambda: PathDeps(bench.deps), logger=bench.logger)


def assert_failed_for_good(bench: Bench, reason: str) -> None:
    assert bench.tags()[TAG_STATUS] == STATUS_PROVISIONING_FAILED
    assert bench.tags()[TAG_LAST_ERROR] == reason
    assert bench.events.of_type(ev.PROVISIONING_FAILED) == [
        {"connection": "acme", "reason_code": reason, "retryable": False}
    ]
    assert bench.events.of_type(ev.BASE_CONNECTION_PROVISIONED) == []
    assert bench.flow_calls("/connections", "POST") == []


# ---- the retired Zoho CRM source --------------------------------------------------------------------
@pytest.mark.parametrize(("state", "adobe_code"), [("gone", "1101-404"), ("invalid", "1413-400")])
def test_a_retired_zoho_source_stops_with_its_reason_and_is_not_retried(
    bench: Bench, state: str, adobe_code: str
) -> None:
    bench.authorize()
    bench.adobe.zoho_spec_state = state

    answer = app(bench).handle({"connection": "acme"})  # returns normally: nothing to retry

    assert answer["ok"] is False
    assert (answer["reason_code"], answer["retryable"], answer["adobe_code"]) == (
        "aep-zoho-source-retired",
        False,
        adobe_code,
    )
    assert_failed_for_good(bench, "aep-zoho-source-retired")
    assert len(bench.adobe.calls(SPEC_PATH)) == 1


def test_the_retirement_log_line_tells_the_operator_what_it_means(bench: Bench) -> None:
    bench.authorize()
    bench.adobe.zoho_spec_state = "gone"

    bench.provision()

    (line,) = [r for r in bench.log_records() if r.get("reason") == "aep-zoho-source-retired"]
    assert line["level"] == "ERROR"
    for words in (
        "no longer serves the Zoho CRM source",
        "June 2025",
        "dataflows in AEP may stop",
        "retrying cannot help",
        "docs/provisioning.md",
    ):
        assert words in line["message"]


def test_a_spec_refused_at_creation_is_the_retirement_too(bench: Bench) -> None:
    bench.authorize()
    refused = {"type": "https://ns.adobe.com/aep/errors/FLOW-1413-400", "status": 400, "report": {}}
    bench.adobe.inject(Fault(FLOW_PREFIX + "/connections", status=400, method="POST", body=refused))

    result = bench.provision()

    assert (result.reason_code, result.retryable) == ("aep-zoho-source-retired", False)
    assert bench.tags()[TAG_STATUS] == STATUS_PROVISIONING_FAILED


@pytest.mark.parametrize("code", ["1101-500", "1402-500"])
def test_an_internal_error_of_the_sources_catalogue_in_the_preflight_never_reads_as_retired(
    bench: Bench, code: str
) -> None:
    bench.authorize()
    internal = {"type": f"https://ns.adobe.com/aep/errors/FLOW-{code}", "status": 500, "report": {}}
    bench.adobe.inject(Fault(SPEC_PATH, status=500, body=internal), times=8)

    result = bench.provision()

    assert (result.reason_code, result.retryable) == ("aep-unavailable", True)
    assert bench.tags().get(TAG_STATUS) != STATUS_PROVISIONING_FAILED


# ---- configuration errors: a reason code that names the fix, no retry -------------------------------
def _wrong_client_secret(bench: Bench) -> None:
    bench.set_adobe_secret(adobe_secret(client_secret="not-the-secret-0001"))


def _unknown_scope(bench: Bench) -> None:
    bench.set_adobe_secret(adobe_secret(scopes="openid,AdobeID,not_a_scope"))


def _not_entitled(bench: Bench) -> None:
    bench.adobe.register_credential(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID, entitled=False)


def _other_org(bench: Bench) -> None:
    bench.adobe.register_credential(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, "0000OTHER0000@AdobeOrg")


def _no_permission(bench: Bench) -> None:
    bench.adobe.missing_permission = True


def _api_key_refused(bench: Bench) -> None:
    refused = {"error_code": "403000", "message": "Api Key is invalid"}
    bench.adobe.inject(Fault(SPEC_PATH, status=403, body=refused))


def _not_configured(bench: Bench) -> None:
    bench.set_adobe_secret("{}")


CONFIG_ERRORS: dict[str, tuple[Callable[[Bench], None], str]] = {
    "wrong client secret": (_wrong_client_secret, "aep-credential-invalid"),
    "unknown scope": (_unknown_scope, "aep-scopes-invalid"),
    "no AEP product profile (403025)": (_not_entitled, "aep-org-not-entitled"),
    "credential of another org (403027)": (_other_org, "aep-org-not-entitled"),
    "missing Manage Sources permission (2121)": (_no_permission, "aep-permission-missing"),
    "API not on the project (403000)": (_api_key_refused, "aep-api-key-invalid"),
    "credential never configured": (_not_configured, "adobe-credential-not-configured"),
}


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_each_configuration_error_ends_with_a_reason_code_that_names_the_fix(bench: Bench, case: str) -> None:
    bench.authorize()
    arrange, reason = CONFIG_ERRORS[case]
    arrange(bench)

    answer = app(bench).handle({"connection": "acme"})  # returns normally

    assert (answer["ok"], answer["reason_code"], answer["retryable"]) == (False, reason, False)
    assert_failed_for_good(bench, reason)
    assert len(bench.adobe.calls(IMS_TOKEN_PATH)) <= 1  # not retried
    assert len(bench.adobe.calls(SPEC_PATH)) <= 1


def test_an_unknown_sandbox_is_a_configuration_error(bench: Bench) -> None:
    bench.authorize(sandbox="no-such-sandbox")

    answer = app(bench).handle({"connection": "acme"})

    assert (answer["reason_code"], answer["adobe_code"]) == ("aep-sandbox-not-found", "2101-404")
    assert_failed_for_good(bench, "aep-sandbox-not-found")


# ---- connections that cannot be provisioned ----------------------------------------------------------
def test_a_missing_connection_is_bad_input_and_changes_nothing(bench: Bench) -> None:
    answer = app(bench).handle({"connection": "nobody"})

    assert (answer["ok"], answer["reason_code"], answer["retryable"]) == (False, "connection-not-found", False)
    assert bench.events.events == []
    assert bench.adobe.requests == []


def test_a_connection_that_needs_reauthorization_is_left_as_it_is(bench: Bench) -> None:
    bench.authorize()
    bench.store.set_tags("acme", {TAG_STATUS: STATUS_NEEDS_REAUTH, TAG_LAST_ERROR: "zoho-consent-revoked"})

    result = bench.provision()

    assert (result.ok, result.reason_code, result.retryable) == (False, "connection-needs-reauth", False)
    assert bench.tags()[TAG_STATUS] == STATUS_NEEDS_REAUTH
    assert bench.tags()[TAG_LAST_ERROR] == "zoho-consent-revoked"
    assert bench.adobe.requests == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("adobe_sandbox", None, "connection-sandbox-missing"),
        ("adobe_sandbox", "Not A Sandbox", "connection-sandbox-missing"),
        ("refresh_token", None, "connection-tokens-missing"),
        ("access_token", "", "connection-tokens-missing"),
        ("accounts_url", "https://accounts.evil.example", "connection-hosts-invalid"),
        ("api_domain", "https://www.evil.example", "connection-hosts-invalid"),
        ("client_id", "1000.ANOTHERCLIENT", "zoho-client-mismatch"),
    ],
)
def test_a_connection_missing_what_aep_needs_fails_before_any_adobe_call(
    bench: Bench, field: str, value: str | None, reason: str
) -> None:
    bench.authorize()

    bench.store.write("acme", lambda current: edited("acme", current, **{field: value}))

    result = bench.provision()

    assert (result.ok, result.reason_code, result.retryable) == (False, reason, False)
    assert bench.tags()[TAG_STATUS] == STATUS_PROVISIONING_FAILED
    assert bench.adobe.requests == []


# ---- passing failures: retried, boundedly, and marked as such -----------------------------------------
def test_a_persistent_outage_is_retryable_and_the_handler_raises_for_a_retry(bench: Bench) -> None:
    bench.authorize()
    bench.adobe.inject(Fault(SPEC_PATH, status=503), times=ADOBE_POLICY.attempts)

    with pytest.raises(ProvisioningWillRetry) as info:
        app(bench).handle({"connection": "acme"})

    assert info.value.code == "aep-unavailable"
    assert len(bench.adobe.calls(SPEC_PATH)) == ADOBE_POLICY.attempts  # bounded
    assert bench.tags()[TAG_STATUS] == STATUS_ACTIVE  # a passing outage marks nothing
    assert TAG_LAST_ERROR not in bench.tags()
    assert bench.events.of_type(ev.PROVISIONING_FAILED) == [
        {"connection": "acme", "reason_code": "aep-unavailable", "retryable": True}
    ]


def test_a_429_with_retry_after_is_waited_out_then_provisioning_succeeds(bench: Bench) -> None:
    bench.authorize()
    bench.adobe.inject(Fault(SPEC_PATH, status=429, headers={"Retry-After": "2"}))

    assert bench.provision().ok

    assert len(bench.adobe.calls(SPEC_PATH)) == 2
    assert bench.sleeps[0] >= 2.0


def test_a_long_retry_after_ends_the_run_for_a_later_retry(bench: Bench) -> None:
    bench.authorize()
    bench.adobe.inject(Fault(SPEC_PATH, status=429, headers={"Retry-After": "600"}))

    result = bench.provision()

    assert (result.reason_code, result.retryable) == ("aep-throttled", True)
    assert bench.sleeps == []  # never asked again sooner than Adobe said


def test_5xx_on_a_step_is_retried_and_provisioning_succeeds(bench: Bench) -> None:
    bench.authorize()
    bench.adobe.inject(Fault(FLOW_PREFIX + "/connections", status=502, method="GET"), times=2)

    result = bench.provision()

    assert result.ok and result.created
    assert len(bench.adobe.connections) == 1


def test_a_5xx_on_create_is_not_resent_and_the_next_run_creates_one(bench: Bench) -> None:
    bench.authorize()
    bench.adobe.inject(Fault(FLOW_PREFIX + "/connections", status=503, method="POST"))

    first = bench.provision()
    assert (first.ok, first.retryable) == (False, True)
    assert len(bench.flow_calls("/connections", "POST")) == 1

    assert bench.provision().ok
    assert len(bench.adobe.connections) == 1


# ---- the IMS token -------------------------------------------------------------------------------------
def test_the_ims_token_is_reused_across_runs(bench: Bench) -> None:
    bench.authorize()

    bench.provision()
    bench.provision()

    assert bench.adobe.tokens_minted == 1


def test_after_401013_exactly_one_token_is_minted_and_the_rejected_one_never_reused(bench: Bench) -> None:
    bench.authorize()
    bench.provision()
    rejected = bench.flow_calls()[-1].header("authorization")
    bench.adobe.expire_tokens()
    seen = len(bench.flow_calls())

    result = bench.provision()

    assert result.ok
    assert bench.adobe.tokens_minted == 2
    later = [c.header("authorization") for c in bench.flow_calls()[seen:]]
    assert later[0] == rejected  # the call that met 401013
    assert rejected not in later[1:]
    assert TAG_BASE_CONNECTION_ID in bench.tags()
