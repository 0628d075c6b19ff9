"""Connect links: signed, expiring state; the authorization URL Zoho needs."""

from __future__ import annotations

import base64
import json
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
)
from zoho_aep.domain.links import LinkState, build_connect_link, verify_state

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
