"""The operator's credentials as values: the Zoho OAuth client and the Adobe Server-to-Server credential."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ZohoClientCredentials:
    """``{prefix}/zoho-client``: one client id; the secret may differ per data center."""

    client_id: str
    client_secret: str
    client_secrets: Mapping[str, str] = field(default_factory=dict)

    def secret_for(self, location: str) -> str:
        """The client secret for ``location``: the per-data-center one when present."""
        return self.client_secrets.get(location) or self.client_secret


@dataclass(frozen=True)
class AdobeCredentials:
    """``{prefix}/adobe``: an OAuth Server-to-Server credential."""

    client_id: str
    client_secret: str
    org_id: str
    scopes: str
