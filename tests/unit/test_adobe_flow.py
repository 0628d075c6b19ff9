"""The Flow Service client: headers, retries, both error shapes, the 401013 re-mint, list filters."""

from __future__ import annotations

import json

import pytest

from local.emulators.adobe import FLOW_PREFIX, AdobeEmulator
from local.emulators.base import Fault
from tests.support.aep import (  # noqa: F401
    ADOBE_CLIENT_ID,
    ADOBE_CLIENT_SECRET,
    ADOBE_ORG_ID,
    ADOBE_SCOPES,
    adobe_fixture,
)
from tests.support.fakes import FakeClock
from zoho_aep.adapters.adobe.flow import ZOHO_CRM_SPEC_ID, FlowServiceClient
from zoho_aep.adapters.adobe.ims import ImsTokenProvider
from zoho_aep.adapters.adobe.platform import adobe_error
from zoho_aep.adapters.http import HttpClient, HttpResponse
from zoho_aep.domain.credentials import AdobeCredentials
from zoho_aep.domain.errors import (
    AdobeApiKeyInvalid,
    AdobeConnectionInUse,
    AdobeEtagMismatch,
    AdobeNotFound,
    AdobeOrgNotEntitled,
    AdobePatchRefused,
    AdobePermissionMissing,
    AdobeRequestRefused,
    AdobeResponseInvalid,
    AdobeSandboxNotFound,
    AdobeSpecInvalid,
    AdobeThrottled,
    AdobeTokenRejected,
    AdobeUnavailable,
    InvalidSandboxName,
)
from zoho_aep.wiring import ADOBE_POLICY

CREDS = AdobeCredentials(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID, ADOBE_SCOPES)


@pytest.fixture(autouse=True)
def dev_sandbox(adobe: AdobeEmulator) -> None:
    adobe.add_sandbox("dev")


class Client:
    """A FlowServiceClient on the emulator, with recorded sleeps."""

    def __init__(self, adobe: AdobeEmulator, sandbox: str = "dev") -> None:
        self.sleeps: list[float] = []
        http = HttpClient(ADOBE_POLICY, sleep=self.sleeps.append, rng=lambda: 1.0)
        self.ims = ImsTokenProvider(http, adobe.base_url, lambda: CREDS, clock=FakeClock())
        self.flow = FlowServiceClient(http, adobe.base_url, self.ims, lambda: CREDS, sandbox)


def body(name: str = "zoho-aep acme") -> dict[str, object]:
    params = {
        "endpoint": "https://www.zohoapis.eu",
        "accountsUrl": "https://accounts.zoho.eu",
        "clientId": "1000.CLIENT",
        "clientSecret": "zoho-client-secret",
        "accessToken": "1000.access",
        "refreshToken": "1000.refresh",
    }
    return {
        "name": name,
        "description": "d",
        "auth": {"specName": "Basic Authentication", "params": params},
        "connectionSpec": {"id": ZOHO_CRM_SPEC_ID, "version": "1.0"},
    }


def answer(status: int, payload: object, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status=status, headers=headers or {}, body=json.dumps(payload).encode(), url="https://x")


def flow_error(code: str, request_id: str = "req-123") -> dict[str, object]:
    return {
        "type": f"https://ns.adobe.com/aep/errors/FLOW-{code}",
        "title": "t",
        "status": int(code.rsplit("-", 1)[1]),
        "report": {"request-id": request_id},
        "errorMessage": "Adobe's text, never copied into ours",
    }


# ---- headers ---------------------------------------------------------------------------------------
def test_every_call_sends_token_api_key_org_and_the_bound_sandbox(adobe: AdobeEmulator) -> None:
    client = Client(adobe, sandbox="dev")
    ref = client.flow.create_connection(body())
    client.flow.get_connection(ref.id)
    client.flow.list_connections()
    client.flow.patch_connection(ref.id, ref.etag, [{"op": "replace", "path": "/description", "value": "e"}])
    client.flow.explore_root(ref.id)
    client.flow.delete_connection(ref.id)
    calls = adobe.calls(FLOW_PREFIX)
    assert len(calls) == 6
    for call in calls:
        assert call.header("x-sandbox-name") == "dev"
        assert call.header("x-api-key") == ADOBE_CLIENT_ID
        assert call.header("x-gw-ims-org-id") == ADOBE_ORG_ID
        assert (call.header("authorization") or "").startswith("Bearer eyJ")


def test_a_client_cannot_be_made_without_a_valid_sandbox(adobe: AdobeEmulator) -> None:
    with pytest.raises(InvalidSandboxName):
        Client(adobe, sandbox="")


def test_patch_sends_if_match_exactly_as_adobe_returned_it(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    ref = client.flow.create_connection(body())
    assert ref.etag.startswith('"') and ref.etag.endswith('"')
    client.flow.patch_connection(ref.id, ref.etag, [{"op": "replace", "path": "/description", "value": "e"}])
    assert adobe.calls(FLOW_PREFIX, "PATCH")[0].header("if-match") == ref.etag


# ---- reads -------------------------------------------------------------------------------------------
def test_get_unwraps_items(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    ref = client.flow.create_connection(body())
    got = client.flow.get_connection(ref.id)
    assert (got.id, got.etag, got.name, got.spec_id, got.state) == (
        ref.id,
        ref.etag,
        "zoho-aep acme",
        ZOHO_CRM_SPEC_ID,
        "enabled",
    )


def test_list_sends_each_property_filter_url_encoded_and_ands_them(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    client.flow.create_connection(body("zoho-aep acme"))
    client.flow.create_connection(body("zoho-aep other"))
    found = client.flow.list_connections([f"connectionSpec.id=={ZOHO_CRM_SPEC_ID}", "name==zoho-aep acme"])
    assert [c.name for c in found] == ["zoho-aep acme"]
    query = adobe.calls(FLOW_PREFIX + "/connections", "GET")[-1].query_string
    assert query.count("property=") == 2
    assert "connectionSpec.id%3D%3D" in query and "name%3D%3Dzoho-aep" in query


@pytest.mark.parametrize("form", ["relative", "path", "absolute"])
def test_list_follows_every_documented_form_of_the_next_link(adobe: AdobeEmulator, form: str) -> None:
    client = Client(adobe)
    for i in range(3):
        client.flow.create_connection(body(f"zoho-aep c{i}"))
    adobe.page_size, adobe.next_link_form = 1, form
    names = [c.name for c in client.flow.list_connections([f"connectionSpec.id=={ZOHO_CRM_SPEC_ID}"])]
    assert names == ["zoho-aep c0", "zoho-aep c1", "zoho-aep c2"]
    assert len(adobe.calls(FLOW_PREFIX + "/connections", "GET")) == 3


def next_link(adobe: AdobeEmulator, href: str) -> None:
    adobe.inject(
        Fault(
            FLOW_PREFIX + "/connections",
            status=200,
            method="GET",
            body={"items": [], "_links": {"next": {"href": href}}},
        )
    )


@pytest.mark.parametrize(
    "href",
    [
        "https://evil.example/data/foundation/flowservice/connections?continuationToken=x",
        "https://evil.example/connections?continuationToken=x",
        "//evil.example/data/foundation/flowservice/connections",
        "/flows?continuationToken=x",  # another list
        "/data/foundation/flowservice/../catalog/dataSets",
        "/data/foundation/catalog/dataSets",
    ],
)
def test_a_next_page_on_another_host_or_list_is_refused(adobe: AdobeEmulator, href: str) -> None:
    client = Client(adobe)
    next_link(adobe, href)
    with pytest.raises(AdobeResponseInvalid):
        client.flow.list_connections()
    assert len(adobe.calls(FLOW_PREFIX, "GET")) == 1, "never followed"


def test_an_absolute_next_link_on_the_platform_host_is_followed(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    client.flow.create_connection(body("zoho-aep c0"))
    next_link(adobe, f"{adobe.base_url}{FLOW_PREFIX}/connections?limit=5")
    assert [c.name for c in client.flow.list_connections()] == ["zoho-aep c0"]


def test_the_dataflows_on_a_base_connection_are_looked_up_not_parsed(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    used = client.flow.create_connection(body("zoho-aep acme")).id
    other = client.flow.create_connection(body("zoho-aep other")).id
    adobe.set_in_use(used, ["flow-1", "flow-2"])
    adobe.set_in_use(other, ["flow-3"])
    adobe.page_size = 1  # every list pages
    assert client.flow.flows_using(used) == ["flow-1", "flow-2"]
    assert client.flow.flows_using(client.flow.create_connection(body("zoho-aep new")).id) == []
    flow_queries = [r.query_string for r in adobe.calls(FLOW_PREFIX + "/flows", "GET")]
    assert any("sourceConnectionIds%5B%5D%3D%3D" in q for q in flow_queries)


def test_what_the_client_sends_where_spec_and_tutorials_disagree_is_written_down() -> None:
    from zoho_aep.adapters.adobe import flow

    assert set(flow.SPEC_VS_TUTORIALS) == {"PATCH body op", "explore objectType", "trailing slash"}
    sent = {what: row[2] for what, row in flow.SPEC_VS_TUTORIALS.items()}
    assert sent["PATCH body op"] == flow.PATCH_OP == "replace"
    assert sent["explore objectType"] == flow.EXPLORE_ROOT == "root"
    assert not sent["trailing slash"].endswith("/")


def test_delete_and_explore_send_the_tutorials_forms(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    conn = client.flow.create_connection(body())
    client.flow.explore_root(conn.id)
    client.flow.delete_connection(conn.id)
    explore = adobe.calls(FLOW_PREFIX + "/connections/", "GET")[-1]
    assert explore.query == {"objectType": "root"}
    assert adobe.calls(FLOW_PREFIX, "DELETE")[-1].path == f"{FLOW_PREFIX}/connections/{conn.id}"


def test_explore_root_returns_the_tables(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    adobe.modules = ["Leads", "Deals"]
    ref = client.flow.create_connection(body())
    assert [t["name"] for t in client.flow.explore_root(ref.id)] == ["Leads", "Deals"]
    assert adobe.calls(FLOW_PREFIX + f"/connections/{ref.id}/explore")[0].query == {"objectType": "root"}


# ---- retries -------------------------------------------------------------------------------------------
def test_429_with_retry_after_waits_at_least_that_long(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    adobe.inject(Fault(FLOW_PREFIX + "/connectionSpecs", status=429, headers={"Retry-After": "3"}))
    client.flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    assert len(adobe.calls(FLOW_PREFIX + "/connectionSpecs")) == 2
    assert client.sleeps and client.sleeps[0] >= 3.0


def test_a_retry_after_longer_than_the_cap_ends_the_call_instead_of_retrying_early(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    adobe.inject(Fault(FLOW_PREFIX + "/connectionSpecs", status=429, headers={"Retry-After": "300"}))
    with pytest.raises(AdobeThrottled):
        client.flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    assert len(adobe.calls(FLOW_PREFIX + "/connectionSpecs")) == 1
    assert client.sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_capped_backoff_then_succeeds(adobe: AdobeEmulator, status: int) -> None:
    client = Client(adobe)
    adobe.inject(Fault(FLOW_PREFIX + "/connectionSpecs", status=status), times=2)
    client.flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    assert len(adobe.calls(FLOW_PREFIX + "/connectionSpecs")) == 3
    assert client.sleeps == [0.5, 1.0]  # exponential, jitter pinned to its maximum


def test_persistent_5xx_ends_as_a_retryable_unavailable(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    adobe.inject(Fault(FLOW_PREFIX + "/connectionSpecs", status=503), times=10)
    with pytest.raises(AdobeUnavailable) as info:
        client.flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    assert info.value.retryable
    assert len(adobe.calls(FLOW_PREFIX + "/connectionSpecs")) == ADOBE_POLICY.attempts


def test_create_is_sent_once_even_on_a_5xx(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    adobe.inject(Fault(FLOW_PREFIX + "/connections", status=502, method="POST"))
    with pytest.raises(AdobeUnavailable):
        client.flow.create_connection(body())
    assert len(adobe.calls(FLOW_PREFIX + "/connections", "POST")) == 1


def test_401013_mints_one_new_token_and_never_resends_the_rejected_one(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    client.flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    rejected = adobe.calls(FLOW_PREFIX)[-1].header("authorization")
    adobe.expire_tokens()
    minted = adobe.tokens_minted
    client.flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    client.flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    assert adobe.tokens_minted == minted + 1
    sent = [c.header("authorization") for c in adobe.calls(FLOW_PREFIX)]
    assert sent.count(rejected) == 2  # the first call, then the one that got 401013
    assert sent[-1] != rejected and sent[-2] != rejected


def test_a_second_401013_in_a_row_is_reported_not_looped(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    rejected = {"error_code": "401013", "message": "Oauth token is not valid"}
    adobe.inject(Fault(FLOW_PREFIX + "/connectionSpecs", status=401, body=rejected), times=5)
    with pytest.raises(AdobeTokenRejected):
        client.flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    assert len(adobe.calls(FLOW_PREFIX + "/connectionSpecs")) == 2
    assert adobe.tokens_minted == 2


# ---- error shapes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("401013", AdobeTokenRejected),
        ("403010", AdobeTokenRejected),
        ("403000", AdobeApiKeyInvalid),
        ("403003", AdobeApiKeyInvalid),
        ("403025", AdobeOrgNotEntitled),
        ("403027", AdobeOrgNotEntitled),
    ],
)
def test_gateway_errors_are_typed_with_their_code(code: str, kind: type[Exception]) -> None:
    status = int(code[:3])  # a gateway code's first three digits are its HTTP status
    error = adobe_error(answer(status, {"error_code": code, "message": "m"}, {"x-request-id": "gw-1"}), "GET", "x")
    assert type(error) is kind
    assert (error.adobe_code, error.request_id) == (code, "gw-1")


@pytest.mark.parametrize(
    ("code", "method", "kind"),
    [
        ("1101-404", "GET", AdobeNotFound),
        ("1101-500", "GET", AdobeUnavailable),  # the sources catalogue: internal error, not "not found"
        ("1102-500", "GET", AdobeUnavailable),
        ("1102-404", "GET", AdobeNotFound),  # the sources catalogue's "resource not found"
        ("1404-400", "PATCH", AdobeRequestRefused),  # sources: "cannot update backfill", not a stale etag
        ("2120-403", "PATCH", AdobePermissionMissing),
        ("1404-412", "PATCH", AdobeEtagMismatch),
        ("1413-400", "GET", AdobeSpecInvalid),
        ("1418-400", "DELETE", AdobeConnectionInUse),
        ("1445-400", "PATCH", AdobePatchRefused),
        ("1300-400", "PATCH", AdobePatchRefused),
        ("1300-400", "POST", AdobeRequestRefused),
        ("2100-404", "GET", AdobeSandboxNotFound),
        ("2101-404", "GET", AdobeSandboxNotFound),
        ("2118-403", "GET", AdobePermissionMissing),
        ("2121-403", "POST", AdobePermissionMissing),
        ("1415-400", "POST", AdobeRequestRefused),
    ],
)
def test_flow_errors_are_typed_with_code_and_request_id(code: str, method: str, kind: type[Exception]) -> None:
    status = int(code.rsplit("-", 1)[1])
    error = adobe_error(answer(status, flow_error(code, "req-42")), method, "the call")
    assert type(error) is kind
    assert (error.adobe_code, error.request_id, error.status) == (code, "req-42", status)
    assert "Adobe's text" not in error.message


@pytest.mark.parametrize(("status", "kind"), [(429, AdobeThrottled), (502, AdobeUnavailable), (404, AdobeNotFound)])
def test_answers_without_a_known_shape_are_typed_by_status(status: int, kind: type[Exception]) -> None:
    error = adobe_error(HttpResponse(status, {}, b"<html>oops</html>", "https://x"), "GET", "x")
    assert type(error) is kind
    assert error.adobe_code is None


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("1101-404", 500, AdobeUnavailable),  # the status wins over a code whose HTTP part disagrees
        ("1418-400", 404, AdobeNotFound),
        ("1404-412", 400, AdobeRequestRefused),
    ],
)
def test_a_code_counts_only_with_the_http_part_that_is_the_status(code: str, status: int, kind: type) -> None:
    error = adobe_error(answer(status, flow_error(code, "req-1")), "PATCH", "x")
    assert type(error) is kind
    assert error.adobe_code == code


def test_a_gateway_code_whose_status_disagrees_is_typed_by_the_status() -> None:
    error = adobe_error(answer(500, {"error_code": "403025", "message": "m"}), "GET", "x")
    assert type(error) is AdobeUnavailable


def test_wire_values_that_do_not_look_like_codes_are_dropped() -> None:
    payload = {"error_code": "401013 <script>", "message": "m"}
    error = adobe_error(answer(401, payload, {"x-request-id": "id with spaces"}), "GET", "x")
    assert (error.adobe_code, error.request_id) == (None, None)


def test_the_emulators_flow_error_carries_its_request_id_into_the_typed_error(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    with pytest.raises(AdobeNotFound) as info:
        client.flow.get_connection("no-such-id")
    assert info.value.adobe_code == "1101-404"
    assert info.value.request_id


def test_an_empty_items_answer_is_not_found(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    adobe.inject(Fault(FLOW_PREFIX + "/connections/empty", status=200, body={"items": []}))
    with pytest.raises(AdobeNotFound):
        client.flow.get_connection("empty")


def test_an_id_is_sent_as_one_path_segment(adobe: AdobeEmulator) -> None:
    client = Client(adobe)
    with pytest.raises(AdobeNotFound):
        client.flow.get_connection("../connectionSpecs/x")
    assert adobe.calls(FLOW_PREFIX)[-1].path == FLOW_PREFIX + "/connections/..%2FconnectionSpecs%2Fx"
