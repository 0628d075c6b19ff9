"""Tests of the Adobe IMS + Flow Service emulator, over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.emulators.adobe import FLOW_PREFIX, ZOHO_SPEC_ID, AdobeEmulator
from local.emulators.base import Fault

CLIENT_ID = "adobe-client-id"
CLIENT_SECRET = "adobe-client-secret"
ORG_ID = "5C13ABCDEF0123456789@AdobeOrg"
SCOPE = "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"
TIMEOUT = 5


class FakeClock:
    """A settable clock for token expiry."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def adobe(clock: FakeClock) -> Iterator[AdobeEmulator]:
    emulator = AdobeEmulator(clock=clock).start()
    emulator.register_credential(CLIENT_ID, CLIENT_SECRET, ORG_ID)
    try:
        yield emulator
    finally:
        emulator.stop()


def mint(adobe: AdobeEmulator, **overrides: str) -> requests.Response:
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials", "scope": SCOPE}
    form.update(overrides)
    return requests.post(f"{adobe.base_url}/ims/token/v3", data=form, timeout=TIMEOUT)


def token(adobe: AdobeEmulator) -> str:
    answer = mint(adobe)
    assert answer.status_code == 200
    return str(answer.json()["access_token"])


def headers(adobe: AdobeEmulator, sandbox: str | None = "prod", **overrides: str | None) -> dict[str, str]:
    result: dict[str, str | None] = {
        "Authorization": f"Bearer {token(adobe)}",
        "x-api-key": CLIENT_ID,
        "x-gw-ims-org-id": ORG_ID,
        "x-sandbox-name": sandbox,
    }
    result.update(overrides)
    return {k: v for k, v in result.items() if v is not None}


def call(adobe: AdobeEmulator, method: str, path: str, hdrs: dict[str, str], **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{adobe.base_url}{FLOW_PREFIX}{path}", headers=hdrs, timeout=TIMEOUT, **kwargs)


def zoho_params(**overrides: str) -> dict[str, str]:
    params = {
        "endpoint": "https://www.zohoapis.eu",
        "accountsUrl": "https://accounts.zoho.eu",
        "clientId": "1000.ZOHOCLIENT",
        "clientSecret": "zoho-secret",
        "accessToken": "1000.access",
        "refreshToken": "1000.refresh",
    }
    params.update(overrides)
    return params


def connection_body(name: str = "Zoho CRM (acme)", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "description": "Zoho CRM base connection",
        "auth": {"specName": "Basic Authentication", "params": zoho_params()},
        "connectionSpec": {"id": ZOHO_SPEC_ID, "version": "1.0"},
    }
    body.update(overrides)
    return body


def create(adobe: AdobeEmulator, hdrs: dict[str, str], name: str = "Zoho CRM (acme)") -> dict[str, Any]:
    answer = call(adobe, "POST", "/connections", hdrs, json=connection_body(name))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def assert_flow_error(answer: requests.Response, code: str) -> dict[str, Any]:
    status = int(code.split("-")[1])
    assert answer.status_code == status, answer.text
    body = dict(answer.json())
    assert body["type"] == f"https://ns.adobe.com/aep/errors/FLOW-{code}"
    assert set(body) == {"type", "title", "status", "report", "errorMessage", "errorDetails"}, "Adobe's example"
    assert body["status"] == status
    return body


def assert_gateway_error(answer: requests.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["error_code"] == code


# ---- IMS ----------------------------------------------------------------------------------------
def test_ims_mints_a_bearer_token(adobe: AdobeEmulator) -> None:
    answer = mint(adobe)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert len(body["access_token"]) > 200
    assert adobe.tokens_minted == 1


def test_ims_mints_a_different_token_each_time(adobe: AdobeEmulator) -> None:
    assert token(adobe) != token(adobe)
    assert adobe.tokens_minted == 2


def test_ims_rejects_unknown_client(adobe: AdobeEmulator) -> None:
    answer = mint(adobe, client_id="nobody")
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert adobe.tokens_minted == 0


def test_ims_rejects_wrong_secret(adobe: AdobeEmulator) -> None:
    answer = mint(adobe, client_secret="wrong")
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_ims_rejects_other_grant_type(adobe: AdobeEmulator) -> None:
    answer = mint(adobe, grant_type="authorization_code")
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("scope", ["openid,AdobeID,write_everything", "", "openid AdobeID"])
def test_ims_rejects_unknown_scope(adobe: AdobeEmulator, scope: str) -> None:
    answer = mint(adobe, scope=scope)
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_scope", "error_description": "invalid scope parameter"}


def test_ims_accepts_a_subset_of_scopes(adobe: AdobeEmulator) -> None:
    assert mint(adobe, scope="openid,AdobeID").status_code == 200


# ---- gateway ------------------------------------------------------------------------------------
def test_gateway_accepts_a_fresh_token(adobe: AdobeEmulator) -> None:
    answer = call(adobe, "GET", "/connections", headers(adobe))
    assert answer.status_code == 200
    assert answer.json()["items"] == []


def test_gateway_answers_a_missing_token_with_403_403010_as_adobe_documents(adobe: AdobeEmulator) -> None:
    answer = call(adobe, "GET", "/connections", headers(adobe, Authorization=None))
    assert_gateway_error(answer, 403, "403010")


def test_gateway_rejects_unknown_token(adobe: AdobeEmulator) -> None:
    answer = call(adobe, "GET", "/connections", headers(adobe, Authorization="Bearer not-a-token"))
    assert_gateway_error(answer, 401, "401013")


def test_gateway_rejects_tokens_after_expire_tokens(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    adobe.expire_tokens()
    assert_gateway_error(call(adobe, "GET", "/connections", hdrs), 401, "401013")
    assert call(adobe, "GET", "/connections", headers(adobe)).status_code == 200  # a new token works


def test_gateway_rejects_token_past_expires_in(adobe: AdobeEmulator, clock: FakeClock) -> None:
    hdrs = headers(adobe)
    clock.now += 86398
    assert call(adobe, "GET", "/connections", hdrs).status_code == 200
    clock.now += 2
    assert_gateway_error(call(adobe, "GET", "/connections", hdrs), 401, "401013")


@pytest.mark.parametrize(("api_key", "code"), [(None, "403000"), ("someone-else", "403003")])
def test_gateway_answers_a_missing_api_key_403000_and_an_invalid_one_403003(
    adobe: AdobeEmulator, api_key: str | None, code: str
) -> None:
    answer = call(adobe, "GET", "/connections", headers(adobe, **{"x-api-key": api_key}))
    assert_gateway_error(answer, 403, code)


def test_gateway_answers_a_missing_org_header_with_400003(adobe: AdobeEmulator) -> None:
    answer = call(adobe, "GET", "/connections", headers(adobe, **{"x-gw-ims-org-id": None}))
    assert_gateway_error(answer, 400, "400003")


def test_gateway_refuses_a_body_without_a_json_content_type(adobe: AdobeEmulator) -> None:
    hdrs = {**headers(adobe), "Content-Type": "text/plain"}
    answer = call(adobe, "POST", "/connections", hdrs, data=b"{}")
    assert (answer.status_code, answer.json()["detail"]) == (400, "A valid content-type must be specified")


def test_gateway_rejects_wrong_org(adobe: AdobeEmulator) -> None:
    answer = call(adobe, "GET", "/connections", headers(adobe, **{"x-gw-ims-org-id": "OTHER@AdobeOrg"}))
    assert_gateway_error(answer, 403, "403027")


def test_gateway_rejects_credential_not_entitled(adobe: AdobeEmulator) -> None:
    adobe.register_credential(CLIENT_ID, CLIENT_SECRET, ORG_ID, entitled=False)
    answer = call(adobe, "GET", "/connections", headers(adobe))
    assert_gateway_error(answer, 403, "403025")


# ---- Flow Service request checks ----------------------------------------------------------------
def test_flow_requires_sandbox_header(adobe: AdobeEmulator) -> None:
    answer = call(adobe, "GET", "/connections", headers(adobe, sandbox=None))
    assert_flow_error(answer, "2105-400")


def test_flow_rejects_unknown_sandbox_until_added(adobe: AdobeEmulator) -> None:
    assert_flow_error(call(adobe, "GET", "/connections", headers(adobe, sandbox="dev")), "2101-404")
    adobe.add_sandbox("dev")
    assert call(adobe, "GET", "/connections", headers(adobe, sandbox="dev")).status_code == 200


def test_flow_rejects_missing_permission(adobe: AdobeEmulator) -> None:
    adobe.missing_permission = True
    assert_flow_error(call(adobe, "GET", f"/connectionSpecs/{ZOHO_SPEC_ID}", headers(adobe)), "2121-403")


def test_flow_error_has_adobe_shape(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe, **{"x-request-id": "req-123"})
    body = assert_flow_error(call(adobe, "GET", "/connections/nope", hdrs), "1101-404")
    assert (body["title"], body["status"]) == ("Resource not found", 404)
    assert body["report"] == {"detailed-message": body["errorMessage"], "request-id": "req-123"}
    assert body["errorDetails"] == body["errorMessage"]


# ---- connection spec ----------------------------------------------------------------------------
def test_zoho_spec_is_served(adobe: AdobeEmulator) -> None:
    answer = call(adobe, "GET", f"/connectionSpecs/{ZOHO_SPEC_ID}", headers(adobe))
    assert answer.status_code == 200
    (spec,) = answer.json()["items"]
    assert spec["id"] == ZOHO_SPEC_ID
    assert spec["version"] == "1.0"
    auth_spec = spec["authSpec"][0]
    assert auth_spec["name"] == "Basic Authentication"
    assert set(auth_spec["spec"]["properties"]) == set(zoho_params())


def test_gone_zoho_spec_answers_404_and_refuses_creates(adobe: AdobeEmulator) -> None:
    adobe.zoho_spec_state = "gone"
    hdrs = headers(adobe)
    assert_flow_error(call(adobe, "GET", f"/connectionSpecs/{ZOHO_SPEC_ID}", hdrs), "1101-404")
    assert_flow_error(call(adobe, "POST", "/connections", hdrs, json=connection_body()), "1413-400")
    assert adobe.connections == {}


def test_invalid_zoho_spec_answers_1413(adobe: AdobeEmulator) -> None:
    adobe.zoho_spec_state = "invalid"
    assert_flow_error(call(adobe, "GET", f"/connectionSpecs/{ZOHO_SPEC_ID}", headers(adobe)), "1413-400")


def test_unknown_spec_answers_404(adobe: AdobeEmulator) -> None:
    answer = call(adobe, "GET", "/connectionSpecs/00000000-0000-0000-0000-000000000000", headers(adobe))
    assert_flow_error(answer, "1101-404")


# ---- create -------------------------------------------------------------------------------------
def test_create_answers_201_with_quoted_etag_and_stores_everything(adobe: AdobeEmulator) -> None:
    created = create(adobe, headers(adobe))
    assert set(created) == {"id", "etag"}
    assert created["etag"].startswith('"') and created["etag"].endswith('"')
    stored = adobe.connections[created["id"]]
    assert stored["auth"]["params"] == zoho_params()
    assert stored["sandboxName"] == "prod"
    assert stored["etag"] == created["etag"]
    assert stored["state"] == "enabled"


def test_create_twice_with_same_name_makes_two_connections(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    first, second = create(adobe, hdrs), create(adobe, hdrs)
    assert first["id"] != second["id"]
    assert len(adobe.connections_in("prod")) == 2


def test_create_rejects_wrong_auth_spec_name(adobe: AdobeEmulator) -> None:
    body = connection_body(auth={"specName": "OAuth2", "params": zoho_params()})
    assert_flow_error(call(adobe, "POST", "/connections", headers(adobe), json=body), "1415-400")


@pytest.mark.parametrize(
    "spec",
    [{"id": ZOHO_SPEC_ID, "version": "2.0"}, {"id": "11111111-2222-3333-4444-555555555555", "version": "1.0"}, None],
)
def test_create_rejects_bad_connection_spec(adobe: AdobeEmulator, spec: dict[str, str] | None) -> None:
    body = connection_body(connectionSpec=spec)
    assert_flow_error(call(adobe, "POST", "/connections", headers(adobe), json=body), "1413-400")


@pytest.mark.parametrize(
    "params",
    [
        {k: v for k, v in zoho_params().items() if k != "refreshToken"},
        {**zoho_params(), "extra": "x"},
        zoho_params(accessToken=""),
        {**zoho_params(), "clientSecret": 42},
    ],
    ids=["missing-key", "extra-key", "empty-value", "not-a-string"],
)
def test_create_rejects_bad_auth_params(adobe: AdobeEmulator, params: dict[str, Any]) -> None:
    body = connection_body(auth={"specName": "Basic Authentication", "params": params})
    assert_flow_error(call(adobe, "POST", "/connections", headers(adobe), json=body), "1400-400")


def test_create_requires_a_name(adobe: AdobeEmulator) -> None:
    assert_flow_error(call(adobe, "POST", "/connections", headers(adobe), json=connection_body("  ")), "1400-400")


def test_create_requires_a_body(adobe: AdobeEmulator) -> None:
    assert_flow_error(call(adobe, "POST", "/connections", headers(adobe), data=b""), "1405-400")


# ---- read ---------------------------------------------------------------------------------------
def test_list_ands_property_filters_and_decodes_values(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    wanted = create(adobe, hdrs, "Zoho CRM & friends")
    create(adobe, hdrs, "Another")
    params = [("property", f"connectionSpec.id=={ZOHO_SPEC_ID}"), ("property", "name==Zoho CRM & friends")]
    answer = call(adobe, "GET", "/connections", hdrs, params=params)
    assert answer.status_code == 200
    assert [item["id"] for item in answer.json()["items"]] == [wanted["id"]]
    only_spec = call(adobe, "GET", "/connections", hdrs, params=params[:1])
    assert len(only_spec.json()["items"]) == 2


def test_list_pages_with_a_next_link_relative_to_the_service_as_the_spec_shows(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    ids = [create(adobe, hdrs, f"c{i}")["id"] for i in range(3)]
    params = [("limit", "2"), ("property", f"connectionSpec.id=={ZOHO_SPEC_ID}")]
    first = call(adobe, "GET", "/connections", hdrs, params=params).json()
    assert [item["id"] for item in first["items"]] == ids[:2]
    href = first["_links"]["next"]["href"]
    assert href.startswith("/connections?continuationToken=")  # FS-SPEC PageLink.href's example
    rest = call(adobe, "GET", href, hdrs).json()  # the token carries the filter and the limit
    assert [item["id"] for item in rest["items"]] == ids[2:]
    assert rest["_links"] == {}


@pytest.mark.parametrize(("form", "prefix"), [("path", FLOW_PREFIX + "/connections?"), ("absolute", "http://")])
def test_the_next_link_can_take_the_other_documented_forms(adobe: AdobeEmulator, form: str, prefix: str) -> None:
    hdrs = headers(adobe)
    adobe.next_link_form = form
    for i in range(2):
        create(adobe, hdrs, f"c{i}")
    href = call(adobe, "GET", "/connections", hdrs, params={"limit": "1"}).json()["_links"]["next"]["href"]
    assert href.startswith(prefix)


def test_lists_page_by_default_without_a_limit(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    adobe.page_size = 2
    for i in range(3):
        create(adobe, hdrs, f"c{i}")
    first = call(adobe, "GET", "/connections", hdrs).json()
    assert len(first["items"]) == 2 and "next" in first["_links"]


def test_create_answers_a_location_header(adobe: AdobeEmulator) -> None:
    answer = call(adobe, "POST", "/connections", headers(adobe), json=connection_body())
    assert answer.status_code == 201
    assert answer.headers["Location"] == f"{adobe.base_url}{FLOW_PREFIX}/connections/{answer.json()['id']}"


def test_get_wraps_one_record_in_items_and_hides_secrets(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    answer = call(adobe, "GET", f"/connections/{created['id']}", hdrs)
    assert answer.status_code == 200
    (record,) = answer.json()["items"]
    assert record["id"] == created["id"]
    assert record["etag"] == created["etag"]
    assert record["state"] == "enabled"
    assert record["connectionSpec"] == {"id": ZOHO_SPEC_ID, "version": "1.0"}
    assert record["auth"]["specName"] == "Basic Authentication"
    assert set(record["auth"]["params"]) == {"endpoint", "accountsUrl", "clientId"}
    for secret in ("zoho-secret", "1000.access", "1000.refresh"):
        assert secret not in answer.text


def test_connections_are_visible_only_in_their_sandbox(adobe: AdobeEmulator) -> None:
    adobe.add_sandbox("dev")
    created = create(adobe, headers(adobe))
    dev = headers(adobe, sandbox="dev")
    assert_flow_error(call(adobe, "GET", f"/connections/{created['id']}", dev), "1101-404")
    assert call(adobe, "GET", "/connections", dev).json()["items"] == []
    assert adobe.connections_in("dev") == []
    assert [c["id"] for c in adobe.connections_in("prod")] == [created["id"]]


def test_get_unknown_connection_answers_404(adobe: AdobeEmulator) -> None:
    assert_flow_error(call(adobe, "GET", "/connections/does-not-exist", headers(adobe)), "1101-404")


# ---- update -------------------------------------------------------------------------------------
REPLACE_REFRESH = [{"op": "replace", "path": "/auth/params/refreshToken", "value": "1000.new-refresh"}]


def test_patch_requires_if_match(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    answer = call(adobe, "PATCH", f"/connections/{created['id']}", hdrs, json=REPLACE_REFRESH)
    assert_flow_error(answer, "1403-400")


@pytest.mark.parametrize("stale", ['"00000000-0000-0200-0000-000000000000"', "unquoted"])
def test_patch_with_stale_etag_answers_412(adobe: AdobeEmulator, stale: str) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    answer = call(adobe, "PATCH", f"/connections/{created['id']}", {**hdrs, "If-Match": stale}, json=REPLACE_REFRESH)
    assert_flow_error(answer, "1404-412")
    assert adobe.connections[created["id"]]["auth"]["params"]["refreshToken"] == "1000.refresh"


def test_patch_unquoted_current_etag_is_stale(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    unquoted = created["etag"].strip('"')
    answer = call(adobe, "PATCH", f"/connections/{created['id']}", {**hdrs, "If-Match": unquoted}, json=REPLACE_REFRESH)
    assert_flow_error(answer, "1404-412")


def test_patch_one_param_changes_etag_and_stored_value(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    path = f"/connections/{created['id']}"
    answer = call(adobe, "PATCH", path, {**hdrs, "If-Match": created["etag"]}, json=REPLACE_REFRESH)
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == created["id"]
    assert body["etag"] != created["etag"]
    stored = adobe.connections[created["id"]]
    assert stored["auth"]["params"]["refreshToken"] == "1000.new-refresh"
    assert stored["etag"] == body["etag"]
    assert call(adobe, "GET", path, hdrs).json()["items"][0]["etag"] == body["etag"]
    again = call(adobe, "PATCH", path, {**hdrs, "If-Match": created["etag"]}, json=REPLACE_REFRESH)
    assert_flow_error(again, "1404-412")


def test_patch_replaces_all_params_and_name(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    new_params = zoho_params(accessToken="1000.a2", refreshToken="1000.r2", clientSecret="s2")
    ops = [
        {"op": "replace", "path": "/auth/params", "value": new_params},
        {"op": "replace", "path": "/name", "value": "Renamed"},
        {"op": "replace", "path": "/description", "value": ""},
    ]
    answer = call(adobe, "PATCH", f"/connections/{created['id']}", {**hdrs, "If-Match": created["etag"]}, json=ops)
    assert answer.status_code == 200
    stored = adobe.connections[created["id"]]
    assert stored["auth"]["params"] == new_params
    assert stored["name"] == "Renamed"
    assert stored["description"] == ""


@pytest.mark.parametrize(
    ("ops", "code"),
    [
        ([{"op": "add", "path": "/name", "value": "x"}], "1434-400"),
        ([{"op": "replace", "path": "/auth/params/password", "value": "x"}], "1455-400"),
        ([{"op": "replace", "path": "/state", "value": "disabled"}], "1455-400"),
        ([{"op": "replace", "path": "/auth/params", "value": {"refreshToken": "x"}}], "1400-400"),
        ({"op": "replace", "path": "/name", "value": "x"}, "1455-400"),
    ],
    ids=["op-add", "unknown-param", "unsupported-path", "partial-params", "not-a-list"],
)
def test_patch_rejects_bad_instructions_without_changing(adobe: AdobeEmulator, ops: Any, code: str) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    answer = call(adobe, "PATCH", f"/connections/{created['id']}", {**hdrs, "If-Match": created["etag"]}, json=ops)
    assert_flow_error(answer, code)
    assert adobe.connections[created["id"]]["etag"] == created["etag"]


def test_patch_refused_answers_1445(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    adobe.patch_refused = True
    answer = call(
        adobe, "PATCH", f"/connections/{created['id']}", {**hdrs, "If-Match": created["etag"]}, json=REPLACE_REFRESH
    )
    assert_flow_error(answer, "1445-400")
    assert adobe.connections[created["id"]]["auth"]["params"]["refreshToken"] == "1000.refresh"


# ---- delete -------------------------------------------------------------------------------------
def test_delete_answers_204_then_404(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    answer = call(adobe, "DELETE", f"/connections/{created['id']}", hdrs)
    assert answer.status_code == 204
    assert answer.content == b""
    assert adobe.connections == {}
    assert_flow_error(call(adobe, "DELETE", f"/connections/{created['id']}", hdrs), "1101-404")


def test_delete_in_use_answers_1418_naming_only_the_base_connection(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    adobe.set_in_use(created["id"], ["flow-aaa", "flow-bbb"])
    body = assert_flow_error(call(adobe, "DELETE", f"/connections/{created['id']}", hdrs), "1418-400")
    assert created["id"] in body["errorMessage"]
    assert "flow-aaa" not in json.dumps(body) and "flow-bbb" not in json.dumps(body)
    assert created["id"] in adobe.connections


def test_the_blocking_dataflows_are_found_through_source_connections_and_the_array_filter(
    adobe: AdobeEmulator,
) -> None:
    hdrs = headers(adobe)
    used, other = create(adobe, hdrs)["id"], create(adobe, hdrs)["id"]
    adobe.set_in_use(used, ["flow-aaa", "flow-bbb"])
    adobe.set_in_use(other, ["flow-ccc"])
    sources = call(adobe, "GET", "/sourceConnections", hdrs, params={"property": f"baseConnectionId=={used}"})
    source_ids = ",".join(item["id"] for item in sources.json()["items"])
    assert len(source_ids.split(",")) == 2
    flows = call(adobe, "GET", "/flows", hdrs, params={"property": f"sourceConnectionIds[]=={source_ids}"})
    assert sorted(item["id"] for item in flows.json()["items"]) == ["flow-aaa", "flow-bbb"]
    # Without the brackets the array is not a value: nothing matches (never the wrong flows).
    bare = call(adobe, "GET", "/flows", hdrs, params={"property": f"sourceConnectionIds=={source_ids}"})
    assert bare.json()["items"] == []


def test_a_deleted_dataflow_no_longer_blocks_its_base_connection(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)["id"]
    adobe.set_in_use(created, ["flow-aaa"])
    assert call(adobe, "DELETE", "/flows/flow-aaa", hdrs).status_code == 204
    assert call(adobe, "DELETE", f"/connections/{created}", hdrs).status_code == 204


# ---- explore and test ---------------------------------------------------------------------------
def test_explore_lists_modules_as_tables(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    adobe.modules = ["Leads", "Contacts"]
    answer = call(adobe, "GET", f"/connections/{created['id']}/explore", hdrs, params={"objectType": "root"})
    assert answer.status_code == 200
    assert answer.json() == [
        {"type": "table", "name": m, "path": m, "canPreview": True, "canFetchSchema": True} for m in adobe.modules
    ]


def test_explore_default_modules_include_leads_and_contacts(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    answer = call(adobe, "GET", f"/connections/{created['id']}/explore?objectType=root", hdrs)
    names = [table["name"] for table in answer.json()]
    assert {"Leads", "Contacts", "Accounts", "Deals"} <= set(names)


def test_test_endpoint_answers_result_true(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    created = create(adobe, hdrs)
    answer = call(adobe, "GET", f"/connections/{created['id']}/test", hdrs)
    assert answer.status_code == 200
    assert answer.json() == {"result": True}


# ---- faults, recording, threads -----------------------------------------------------------------
def test_429_fault_passes_retry_after_through(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    adobe.inject(
        Fault(
            path=FLOW_PREFIX + "/connections",
            kind="status",
            status=429,
            body={"error_code": "429050", "message": "Too many requests"},
            headers={"Retry-After": "2"},
        )
    )
    answer = call(adobe, "POST", "/connections", hdrs, json=connection_body())
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "2"
    assert adobe.connections == {}
    assert call(adobe, "POST", "/connections", hdrs, json=connection_body()).status_code == 201


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_faults_are_one_shot(adobe: AdobeEmulator, status: int) -> None:
    hdrs = headers(adobe)
    adobe.inject(Fault(path=FLOW_PREFIX, status=status, body={"message": "boom"}))
    assert call(adobe, "GET", "/connections", hdrs).status_code == status
    assert call(adobe, "GET", "/connections", hdrs).status_code == 200


def test_hang_fault_drops_the_request(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    adobe.inject(Fault(path=FLOW_PREFIX, kind="hang", seconds=0.5))
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(f"{adobe.base_url}{FLOW_PREFIX}/connections", headers=hdrs, timeout=0.2)


def test_requests_are_recorded_with_headers(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    create(adobe, hdrs)
    (post,) = adobe.calls(FLOW_PREFIX + "/connections", "POST")
    assert post.header("x-sandbox-name") == "prod"
    assert post.header("x-api-key") == CLIENT_ID
    assert len(adobe.calls("/ims/token/v3", "POST")) == 1


def test_concurrent_creates_are_all_stored(adobe: AdobeEmulator) -> None:
    hdrs = headers(adobe)
    errors: list[int] = []

    def worker(i: int) -> None:
        answer = call(adobe, "POST", "/connections", hdrs, json=connection_body(f"c{i}"))
        if answer.status_code != 201:
            errors.append(answer.status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(adobe.connections_in("prod")) == 12
