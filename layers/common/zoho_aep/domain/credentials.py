"""Credentials as values: the Zoho OAuth client, the Adobe Server-to-Server credential, AEP's S3 reader key."""

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


@dataclass(frozen=True)
class ReaderKey:
    """``{prefix}/aep-s3-reader``: the access key AEP reads the export folder with (the stack's IAM user)."""

    access_key_id: str
    secret_access_key: str

    @property
    def suffix(self) -> str:
        """What may be said of it in events and logs: the key id's last 4 characters."""
        return self.access_key_id[-4:]

    def __repr__(self) -> str:  # never the secret, even in a traceback
        return f"ReaderKey(access_key_id='...{self.suffix}')"
