"""The one table of Zoho data centers, and the rules built on it (which Zoho host is allowed where).

A callback's ``location`` comes from the browser, so it is only ever a key into this table; the
accounts server we post a client secret to always comes from here, never from the query string.
Production uses the built-in table; ``ZOHO_DATA_CENTERS_JSON`` replaces it for local sandboxes and
tests only (emulators on 127.0.0.x).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .errors import AccountsServerMismatch, ConfigError, LocationUnknown
from .hosts import check_origin, normalise_origin


@dataclass(frozen=True)
class DataCenter:
    """One Zoho data center: where its accounts server is, and which API hosts it may hand out."""

    location: str
    accounts_url: str
    api_domains: tuple[str, ...]

    @property
    def default_api_domain(self) -> str:
        return self.api_domains[0]

    def allows_api_domain(self, url: str) -> bool:
        """True when ``url`` is one of this data center's API hosts (production, sandbox, developer)."""
        origin = normalise_origin(url)
        return bool(origin) and origin in self.api_domains


def _builtin() -> dict[str, DataCenter]:
    # location -> (accounts server, API domain suffix). Canada's accounts host is zohocloud.ca: host
    # names are never built by pasting a TLD onto "zoho.".
    rows = {
        "us": ("https://accounts.zoho.com", "zohoapis.com"),
        "eu": ("https://accounts.zoho.eu", "zohoapis.eu"),
        "in": ("https://accounts.zoho.in", "zohoapis.in"),
        "au": ("https://accounts.zoho.com.au", "zohoapis.com.au"),
        "jp": ("https://accounts.zoho.jp", "zohoapis.jp"),
        "ca": ("https://accounts.zohocloud.ca", "zohoapis.ca"),
        "sa": ("https://accounts.zoho.sa", "zohoapis.sa"),
        "cn": ("https://accounts.zoho.com.cn", "zohoapis.com.cn"),
        "uk": ("https://accounts.zoho.uk", "zohoapis.uk"),
    }
    return {
        loc: DataCenter(
            location=loc,
            accounts_url=accounts,
            api_domains=tuple(f"https://{prefix}.{suffix}" for prefix in ("www", "sandbox", "developer")),
        )
        for loc, (accounts, suffix) in rows.items()
    }


class DataCenterTable(Mapping[str, DataCenter]):
    """Location -> :class:`DataCenter`, plus the rules built on it."""

    def __init__(self, data_centers: Mapping[str, DataCenter]) -> None:
        if not data_centers:
            raise ConfigError("ZOHO_DATA_CENTERS_JSON: at least one data center is needed")
        self._dcs = dict(data_centers)

    @classmethod
    def builtin(cls) -> DataCenterTable:
        return cls(_builtin())

    @classmethod
    def from_json(cls, text: str) -> DataCenterTable:
        """Parse the ``ZOHO_DATA_CENTERS_JSON`` override. Raises ConfigError naming the variable."""
        var = "ZOHO_DATA_CENTERS_JSON"
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{var}: not valid JSON") from exc
        if not isinstance(raw, dict) or not raw:
            raise ConfigError(f"{var}: must be a non-empty JSON object of locations")
        dcs: dict[str, DataCenter] = {}
        for loc, spec in raw.items():
            if not isinstance(loc, str) or not loc.isalnum() or not loc.islower() or len(loc) > 8:
                raise ConfigError(f"{var}: location keys are short lower-case codes such as 'us'")
            if not isinstance(spec, dict) or not isinstance(spec.get("accounts_url"), str):
                raise ConfigError(f"{var}: {loc}.accounts_url is required")
            domains = spec.get("api_domains")
            if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
                raise ConfigError(f"{var}: {loc}.api_domains must be a non-empty list of URLs")
            dcs[loc] = DataCenter(
                location=loc,
                accounts_url=check_origin(spec["accounts_url"], f"{var}: {loc}.accounts_url"),
                api_domains=tuple(check_origin(d, f"{var}: {loc}.api_domains") for d in domains),
            )
        return cls(dcs)

    # Mapping protocol
    def __getitem__(self, location: str) -> DataCenter:
        return self._dcs[location]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dcs)

    def __len__(self) -> int:
        return len(self._dcs)

    def resolve(self, location: str | None) -> DataCenter:
        """The data center for a callback's ``location``; anything else raises LocationUnknown."""
        if not location or location not in self._dcs:
            raise LocationUnknown("The Zoho data center in the redirect is not one this product knows.")
        return self._dcs[location]

    def authorization_server(self, location: str) -> str:
        """Where a connect link starts: the US server for all but China, which has its own."""
        dc = self.resolve(location)
        if location == "cn":
            return dc.accounts_url
        return self._dcs["us"].accounts_url if "us" in self._dcs else dc.accounts_url

    def stored(self, location: object, accounts_url: object) -> DataCenter:
        """The data center a stored connection names, only if its accounts server is the table's.

        A client secret goes to that server and nowhere else, even if someone edited the secret.
        Raises LocationUnknown or AccountsServerMismatch.
        """
        if not isinstance(location, str) or location not in self._dcs:
            raise LocationUnknown("The connection names no known Zoho data center.")
        dc = self._dcs[location]
        if not isinstance(accounts_url, str) or normalise_origin(accounts_url) != dc.accounts_url:
            raise AccountsServerMismatch("The connection's accounts server is not its data center's.")
        return dc

    def location_of_accounts_url(self, url: str) -> str | None:
        origin = normalise_origin(url)
        for loc, dc in self._dcs.items():
            if dc.accounts_url == origin:
                return loc
        return None

    def allowed_origins(self) -> frozenset[str]:
        """Every Zoho origin the product may ever call (accounts servers and API hosts)."""
        origins: set[str] = set()
        for dc in self._dcs.values():
            origins.add(dc.accounts_url)
            origins.update(dc.api_domains)
        return frozenset(origins)
