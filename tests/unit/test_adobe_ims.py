"""Adobe IMS OAuth Server-to-Server tokens: the request, the cache, invalidation, the refusals."""

from __future__ import annotations

import pytest

from local.emulators.adobe import IMS_TOKEN_PATH, TOKEN_LIFETIME_SECONDS, AdobeEmulator
from local.emulators.base import Fault
from tests.support.aep import (  # noqa: F401
    ADOBE_CLIENT_ID,
    ADOBE_CLIENT_SECRET,
    ADOBE_ORG_ID,
    ADOBE_SCOPES,
    adobe_fixture,
)
from tests.support.fakes import FakeClock
from zoho_aep.adapters.adobe.ims import EXPIRY_MARGIN_SECONDS, ImsTokenProvider, scope_param
from zoho_aep.adapters.http import HttpClient
from zoho_aep.domain.credentials import AdobeCredentials
from zoho_aep.domain.errors import AdobeCredentialInvalid, AdobeResponseInvalid, AdobeScopesInvalid, AdobeUnavailable
from zoho_aep.wiring import ADOBE_POLICY

CREDS = AdobeCredentials(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID, ADOBE_SCOPES)


class Secret:
    """What ``AppSecrets.adobe`` would return; the operator may replace it."""

    def __init__(self, creds: AdobeCredentials) -> None:
        self.creds = creds

    def __call__(self) -> AdobeCredentials:
        return self.creds


def provider(
    adobe: AdobeEmulator, clock: FakeClock, creds: AdobeCredentials = CREDS, secret: Secret | None = None
) -> ImsTokenProvider:
    http = HttpClient(ADOBE_POLICY, sleep=lambda _s: None)
    return ImsTokenProvider(http, adobe.base_url, secret or Secret(creds), clock=clock)


def test_token_request_is_a_form_post_with_the_secrets_scopes(adobe: AdobeEmulator, clock: FakeClock) -> None:
    spaced = AdobeCredentials(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID, "openid, AdobeID")
    provider(adobe, clock, spaced).token()
    call = adobe.calls(IMS_TOKEN_PATH)[0]
    assert call.method == "POST" and call.query_string == ""  # nothing secret in the URL
    assert call.header("content-type") == "application/x-www-form-urlencoded"
    assert call.form == {
        "client_id": ADOBE_CLIENT_ID,
        "client_secret": ADOBE_CLIENT_SECRET,
        "grant_type": "client_credentials",
        "scope": "openid,AdobeID",
    }


def test_scope_param_drops_blanks_and_spaces() -> None:
    assert scope_param(" openid , ,AdobeID ") == "openid,AdobeID"


def test_the_token_is_cached_until_shortly_before_it_expires(adobe: AdobeEmulator, clock: FakeClock) -> None:
    ims = provider(adobe, clock)
    first = ims.token()
    clock.advance(TOKEN_LIFETIME_SECONDS - EXPIRY_MARGIN_SECONDS - 1)
    assert ims.token() == first
    assert adobe.tokens_minted == 1
    clock.advance(2)
    assert ims.token() != first
    assert adobe.tokens_minted == 2


def test_invalidate_drops_that_token_and_the_next_call_mints_one(adobe: AdobeEmulator, clock: FakeClock) -> None:
    ims = provider(adobe, clock)
    first = ims.token()
    ims.invalidate("some-other-token")
    assert ims.token() == first
    ims.invalidate(first)
    second = ims.token()
    assert second != first
    assert ims.token() == second
    assert adobe.tokens_minted == 2


def test_a_replaced_credential_is_not_served_the_old_token(adobe: AdobeEmulator, clock: FakeClock) -> None:
    adobe.register_credential("aep-client-id-0002", "other-secret-0002", ADOBE_ORG_ID)
    secret = Secret(CREDS)
    ims = provider(adobe, clock, secret=secret)
    first = ims.token()
    secret.creds = AdobeCredentials("aep-client-id-0002", "other-secret-0002", ADOBE_ORG_ID, ADOBE_SCOPES)
    assert ims.token() != first
    assert adobe.calls(IMS_TOKEN_PATH)[-1].form["client_id"] == "aep-client-id-0002"


def test_a_wrong_client_secret_is_a_credential_error_not_retried(adobe: AdobeEmulator, clock: FakeClock) -> None:
    ims = provider(adobe, clock, AdobeCredentials(ADOBE_CLIENT_ID, "wrong-secret", ADOBE_ORG_ID, ADOBE_SCOPES))
    with pytest.raises(AdobeCredentialInvalid) as info:
        ims.token()
    assert (info.value.code, info.value.adobe_code, info.value.retryable) == (
        "aep-credential-invalid",
        "invalid_client",
        False,
    )
    assert "wrong-secret" not in info.value.message
    assert len(adobe.calls(IMS_TOKEN_PATH)) == 1


def test_an_unknown_scope_is_a_scopes_error(adobe: AdobeEmulator, clock: FakeClock) -> None:
    ims = provider(adobe, clock, AdobeCredentials(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID, "openid,nope"))
    with pytest.raises(AdobeScopesInvalid):
        ims.token()


def test_ims_outage_is_retried_then_reported_retryable(adobe: AdobeEmulator, clock: FakeClock) -> None:
    adobe.inject(Fault(IMS_TOKEN_PATH, status=503), times=10)
    with pytest.raises(AdobeUnavailable) as info:
        provider(adobe, clock).token()
    assert info.value.retryable
    assert len(adobe.calls(IMS_TOKEN_PATH)) == ADOBE_POLICY.attempts


def test_a_success_that_is_not_json_is_a_passing_failure_not_a_refusal(adobe: AdobeEmulator, clock: FakeClock) -> None:
    adobe.inject(Fault(IMS_TOKEN_PATH, kind="garbage", status=200))  # a proxy's page with HTTP 200

    with pytest.raises(AdobeResponseInvalid) as info:
        provider(adobe, clock).token()

    assert (info.value.code, info.value.retryable) == ("aep-response-invalid", True)
