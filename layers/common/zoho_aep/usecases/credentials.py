"""Use case: check an Adobe credential before it is stored (one IMS token minted, or the typed reason why not)."""

from __future__ import annotations

from ..adapters.adobe.ims import ImsTokenProvider
from ..adapters.http import HttpClient, RetryPolicy
from ..config.settings import Settings
from ..domain.credentials import AdobeCredentials

CHECK_POLICY = RetryPolicy(attempts=2, connect_timeout=3.05, read_timeout=10.0, deadline=20.0)


def check_adobe_credential(settings: Settings, credentials: AdobeCredentials) -> None:
    """Mint one IMS token with ``credentials``; raises the typed error that says what is wrong."""
    ImsTokenProvider(HttpClient(CHECK_POLICY), settings.adobe_ims_url, lambda: credentials).token()
