"""Connect links: signed, expiring state; the authorization URL Zoho needs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from zoho_aep.domain.datacenters import DataCenterTable
from zoho_aep.domain.errors import (
    InvalidConnectionName,
    InvalidSandboxName,
    StateExpired,
    StateInvalid,
    StateMissing,
    StateSignatureInvalid,
    ZohoOrgIdInvalid,
)
from zoho_aep.domain.links import (
    LinkState,
    build_connect_link,
    pkce_challenge,
    pkce_verifier,
    verify_state,
)

KEY = "k" * 40
NOW = 1_795_000_000.0


def _link(**overrides: object) -> str:
    args: dict[str, object] = {
        "table": DataCenterTable.builtin(),
        "client_id": "1000.ABC",
        "state_key": KEY,
        "redirect_uri": "https://api.example.com/oauth/callback",
        "scopes": ("ZohoCRM.modules.READ", "ZohoCRM.org.READ"),
        "connection": "acme",
        "sandbox": "prod",
        "now": NOW,
    }
    args.update(overrides)
    return build_connect_link(**args).url  # type: ignore[arg-type]


def test_link_asks_for_offline_access_forced_consent_and_the_configured_scopes() -> None:
    parts = urlsplit(_link())
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://accounts.zoho.com/oauth/v2/auth"
    assert query["response_type"] == "code"
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert query["scope"] == "ZohoCRM.modules.READ,ZohoCRM.org.READ"
    assert query["redirect_uri"] == "https://api.example.com/oauth/callback"
    assert query["client_id"] == "1000.ABC"
    assert verify_state(KEY, query["state"], NOW + 1).connection == "acme"


def test_china_link_starts_on_chinas_accounts_server() -> None:
    assert _link(data_center="cn").startswith("https://accounts.zoho.com.cn/oauth/v2/auth?")


def test_state_round_trips_connection_sandbox_and_expiry() -> None:
    state = LinkState.new("acme-eu", "dev-1", NOW, ttl_minutes=15)
    checked = verify_state(KEY, state.sign(KEY), NOW + 60)
    assert (checked.connection, checked.sandbox, checked.expires_at) == ("acme-eu", "dev-1", int(NOW) + 900)
    assert checked.nonce == state.nonce


def test_every_link_has_its_own_nonce() -> None:
    assert LinkState.new("acme", "prod", NOW).nonce != LinkState.new("acme", "prod", NOW).nonce


def test_expired_state_is_refused() -> None:
    token = LinkState.new("acme", "prod", NOW, ttl_minutes=15).sign(KEY)
    with pytest.raises(StateExpired):
        verify_state(KEY, token, NOW + 15 * 60)


def test_state_signed_with_another_key_is_refused() -> None:
    token = LinkState.new("acme", "prod", NOW).sign("another-key-entirely-0000000000")
    with pytest.raises(StateSignatureInvalid):
        verify_state(KEY, token, NOW)


def test_altered_payload_is_refused_even_with_valid_json() -> None:
    token = LinkState.new("acme", "prod", NOW).sign(KEY)
    payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["c"] = "victim"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with pytest.raises(StateSignatureInvalid):
        verify_state(KEY, f"{forged}.{signature}", NOW)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "!!!.###", "x" * 2000, ".", "eyJ9.AAAA"])
def test_garbled_state_is_refused(token: str) -> None:
    with pytest.raises((StateInvalid, StateSignatureInvalid)):
        verify_state(KEY, token, NOW)


@pytest.mark.parametrize("token", [None, ""])
def test_missing_state_is_refused(token: str | None) -> None:
    with pytest.raises(StateMissing):
        verify_state(KEY, token, NOW)


@pytest.mark.parametrize("name", ["", "Acme", "acme_1", "a" * 65, "acme/other", "acme corp"])
def test_connection_names_are_lower_case_letters_digits_dashes(name: str) -> None:
    with pytest.raises(InvalidConnectionName):
        LinkState.new(name, "prod", NOW)


def test_sixty_four_character_connection_name_is_accepted() -> None:
    assert LinkState.new("a" * 64, "prod", NOW).connection == "a" * 64


@pytest.mark.parametrize("sandbox", ["", "Prod", "prod sandbox", "-prod"])
def test_sandbox_names_are_checked(sandbox: str) -> None:
    with pytest.raises(InvalidSandboxName):
        LinkState.new("acme", sandbox, NOW)


# ---- PKCE and the operator's expectations, signed into the state -------------------------------
def test_every_link_carries_an_s256_challenge_of_a_verifier_derived_from_the_key_and_nonce() -> None:
    link = build_connect_link(
        table=DataCenterTable.builtin(),
        client_id="1000.ABC",
        state_key=KEY,
        redirect_uri="https://api.example.com/oauth/callback",
        scopes=("ZohoCRM.org.READ",),
        connection="acme",
        sandbox="prod",
        now=NOW,
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(link.url).query).items()}
    state = verify_state(KEY, query["state"], NOW)
    verifier = state.code_verifier(KEY)

    assert state.pkce and verifier == pkce_verifier(KEY, state.nonce)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", verifier or "")  # RFC 7636: 43-128 unreserved characters
    assert (query["code_challenge"], query["code_challenge_method"]) == (pkce_challenge(verifier or ""), "S256")


def test_the_pkce_challenge_is_rfc_7636s_s256() -> None:
    # RFC 7636, appendix B.
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_each_link_has_its_own_verifier_and_another_key_gives_another() -> None:
    first, second = LinkState.new("acme", "prod", NOW, pkce=True), LinkState.new("acme", "prod", NOW, pkce=True)
    assert first.code_verifier(KEY) != second.code_verifier(KEY)
    assert first.code_verifier(KEY) != first.code_verifier("another-key-entirely-0000000000")


def test_a_link_without_pkce_has_no_challenge_and_no_verifier() -> None:
    url = _link(pkce=False)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert "code_challenge" not in query and "code_challenge_method" not in query
    assert verify_state(KEY, query["state"], NOW).code_verifier(KEY) is None


def test_the_expected_org_and_data_center_round_trip_in_the_signed_state() -> None:
    token = LinkState.new("acme", "prod", NOW, pkce=True, zoho_org_id="20071234", data_center="eu").sign(KEY)
    state = verify_state(KEY, token, NOW)
    assert (state.pkce, state.zoho_org_id, state.data_center) == (True, "20071234", "eu")


def test_a_link_for_a_data_center_starts_on_the_us_server_but_names_it_in_the_state() -> None:
    url = _link(data_center="eu")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith("https://accounts.zoho.com/oauth/v2/auth?")
    assert verify_state(KEY, query["state"], NOW).data_center == "eu"
    assert verify_state(KEY, parse_qs(urlsplit(_link()).query)["state"][0], NOW).data_center is None


@pytest.mark.parametrize("org_id", ["", "20071234\n", "2007 1234", "x" * 65, "../1"])
def test_an_expected_org_id_must_be_letters_and_digits(org_id: str) -> None:
    with pytest.raises(ZohoOrgIdInvalid):
        LinkState.new("acme", "prod", NOW, zoho_org_id=org_id)


@pytest.mark.parametrize("field", [{"p": True}, {"p": 2}, {"o": 20071234}, {"o": "1\n"}, {"d": "EU"}, {"d": 1}])
def test_a_signed_state_with_a_malformed_optional_field_is_refused(field: dict[str, object]) -> None:
    payload = {"v": 1, "c": "acme", "s": "prod", "iat": int(NOW), "exp": int(NOW) + 900, "n": "abc", **field}
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    signature = hmac.new(KEY.encode(), raw, hashlib.sha256).digest()
    token = ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (raw, signature))
    with pytest.raises(StateInvalid):
        verify_state(KEY, token, NOW)


def test_a_state_signed_before_pkce_reads_as_it_did() -> None:
    """Links handed out before this version carry no "p": they connect without a verifier."""
    state = verify_state(KEY, LinkState.new("acme", "prod", NOW).sign(KEY), NOW)
    assert (state.pkce, state.zoho_org_id, state.data_center) == (False, None, None)


def test_a_link_leads_to_the_connect_route_beside_the_callback_with_zohos_query() -> None:
    from urllib.parse import parse_qsl, urlsplit

    from zoho_aep.domain.datacenters import DataCenterTable
    from zoho_aep.domain.links import build_connect_link, connect_route_url

    link = build_connect_link(
        table=DataCenterTable.builtin(),
        client_id="1000.X",
        state_key="k" * 40,
        redirect_uri="https://api.example.com/zoho/oauth/callback",
        scopes=("ZohoCRM.org.READ",),
        connection="acme",
        sandbox="prod",
        data_center="cn",
        now=1_800_000_000,
    )
    routed = connect_route_url("https://api.example.com/zoho/oauth/callback", link)
    parts = urlsplit(routed)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://api.example.com/zoho/oauth/connect"
    query = dict(parse_qsl(parts.query))
    assert query.pop("dc") == "cn"
    assert query == dict(parse_qsl(urlsplit(link.url).query))
