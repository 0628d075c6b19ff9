"""The data-center table: every Zoho location, and the one rule about which host is allowed."""

from __future__ import annotations

import json

import pytest

from zoho_aep.domain.datacenters import DataCenterTable
from zoho_aep.domain.errors import ConfigError, LocationUnknown
from zoho_aep.domain.hosts import normalise_origin

# The table checked against Zoho's documentation (shared/reference/zoho-oauth.md): the one other place the
# hosts are written down, on purpose.
EXPECTED_ACCOUNTS = {
    "us": "https://accounts.zoho.com",
    "eu": "https://accounts.zoho.eu",
    "in": "https://accounts.zoho.in",
    "au": "https://accounts.zoho.com.au",
    "jp": "https://accounts.zoho.jp",
    "ca": "https://accounts.zohocloud.ca",
    "sa": "https://accounts.zoho.sa",
    "cn": "https://accounts.zoho.com.cn",
    "uk": "https://accounts.zoho.uk",
}


def test_builtin_table_has_all_nine_locations_with_their_accounts_servers() -> None:
    table = DataCenterTable.builtin()
    assert {loc: dc.accounts_url for loc, dc in table.items()} == EXPECTED_ACCOUNTS


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us", "www.zohoapis.com"),
        ("ca", "www.zohoapis.ca"),
        ("cn", "www.zohoapis.com.cn"),
        ("au", "www.zohoapis.com.au"),
    ],
)
def test_each_location_allows_its_production_sandbox_and_developer_api_hosts(location: str, host: str) -> None:
    dc = DataCenterTable.builtin()[location]
    suffix = host.removeprefix("www.")
    for prefix in ("www", "sandbox", "developer"):
        assert dc.allows_api_domain(f"https://{prefix}.{suffix}")
    assert dc.default_api_domain == f"https://{host}"


def test_api_host_of_another_data_center_is_not_allowed() -> None:
    table = DataCenterTable.builtin()
    assert not table["eu"].allows_api_domain("https://www.zohoapis.com")
    assert not table["us"].allows_api_domain("https://www.zohoapis.com.evil.example")
    assert not table["us"].allows_api_domain("http://www.zohoapis.com")
    assert not table["us"].allows_api_domain("https://www.zohoapis.com/crm/v8")


def test_canada_accounts_host_is_not_built_by_pasting_a_tld() -> None:
    assert DataCenterTable.builtin()["ca"].accounts_url != "https://accounts.zoho.ca"


def test_links_start_on_the_us_server_except_china() -> None:
    table = DataCenterTable.builtin()
    assert table.authorization_server("eu") == "https://accounts.zoho.com"
    assert table.authorization_server("ca") == "https://accounts.zoho.com"
    assert table.authorization_server("cn") == "https://accounts.zoho.com.cn"


@pytest.mark.parametrize("location", [None, "", "xx", "US", "us ", "../us"])
def test_unknown_locations_are_refused(location: str | None) -> None:
    with pytest.raises(LocationUnknown):
        DataCenterTable.builtin().resolve(location)


def test_override_accepts_loopback_http_emulators() -> None:
    table = DataCenterTable.from_json(
        json.dumps({"us": {"accounts_url": "http://127.0.0.1:8401", "api_domains": ["http://127.0.0.1:8401/"]}})
    )
    assert table["us"].accounts_url == "http://127.0.0.1:8401"
    assert table["us"].allows_api_domain("http://127.0.0.1:8401")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        '{"us": {"accounts_url": "http://accounts.example.com", "api_domains": ["https://x.example"]}}',
        '{"us": {"accounts_url": "https://a.example"}}',
        '{"us": {"accounts_url": "https://a.example", "api_domains": []}}',
        '{"US": {"accounts_url": "https://a.example", "api_domains": ["https://a.example"]}}',
        '{"us": {"accounts_url": "https://a.example/path", "api_domains": ["https://a.example"]}}',
    ],
)
def test_malformed_override_is_a_config_error_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="ZOHO_DATA_CENTERS_JSON"):
        DataCenterTable.from_json(text)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Accounts.Zoho.EU/", "https://accounts.zoho.eu"),
        ("https://accounts.zoho.eu:443", "https://accounts.zoho.eu"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://user:pw@accounts.zoho.eu", ""),
        ("https://accounts.zoho.eu/oauth", ""),
        ("javascript:alert(1)", ""),
        ("https://accounts.zoho.eu?x=1", ""),
        ("https://[::1:bad", ""),
    ],
)
def test_normalise_origin(url: str, origin: str) -> None:
    assert normalise_origin(url) == origin


@pytest.mark.parametrize(
    ("text", "off"), [("", set()), ("none", set()), ("cn, jp", {"cn", "jp"}), ("all", set(DataCenterTable.builtin()))]
)
def test_the_pkce_setting_names_data_centers_of_the_table(text: str, off: set[str]) -> None:
    from zoho_aep.config.settings import load_settings

    settings = load_settings({"ZOHO_PKCE_OFF_DATA_CENTERS": text})
    assert settings.pkce_off == off
    assert [dc for dc in DataCenterTable.builtin() if not settings.pkce_for(dc)] == sorted(
        off, key=list(DataCenterTable.builtin()).index
    )


@pytest.mark.parametrize("text", ["mars", "eu,mars", "all,eu", "EU"])
def test_a_pkce_setting_naming_an_unknown_data_center_stops_the_function(text: str) -> None:
    from zoho_aep.config.settings import load_settings

    with pytest.raises(ConfigError, match="ZOHO_PKCE_OFF_DATA_CENTERS"):
        load_settings({"ZOHO_PKCE_OFF_DATA_CENTERS": text})


@pytest.mark.parametrize(("text", "allowed"), [("", False), ("refuse", False), ("allow", True)])
def test_the_token_eviction_setting_is_refuse_or_allow(text: str, allowed: bool) -> None:
    from zoho_aep.config.settings import load_settings

    assert load_settings({"ZOHO_USER_TOKEN_EVICTION": text}).allow_token_eviction is allowed


def test_any_other_token_eviction_setting_stops_the_function() -> None:
    from zoho_aep.config.settings import load_settings

    with pytest.raises(ConfigError, match="ZOHO_USER_TOKEN_EVICTION"):
        load_settings({"ZOHO_USER_TOKEN_EVICTION": "yes"})
