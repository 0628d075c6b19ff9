"""Adobe IMS: OAuth Server-to-Server access tokens for Experience Platform calls.

Adobe asks integrations to reuse a token until it expires (and may throttle those that mint too
many), so the provider keeps one token per credential in memory, across warm invocations, until
shortly before it expires. When the Platform gateway rejects a token (``401013``), the caller hands
it back through :meth:`ImsTokenProvider.invalidate`; the next :meth:`token` mints exactly one new one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ...domain.credentials import AdobeCredentials
from ...domain.errors import (
    AdobeCredentialInvalid,
    AdobeImsRefused,
    AdobeResponseInvalid,
    AdobeScopesInvalid,
    AdobeThrottled,
    AdobeUnavailable,
    UpstreamUnavailable,
)
from ..http import HttpClient
from ..logs import register_secret

TOKEN_PATH = "/ims/token/v3"  # noqa: S105  # nosec B105  # a URL path, not a secret
# Renew this long before the stated expiry: a token must outlive the calls that use it.
EXPIRY_MARGIN_SECONDS = 600.0


@dataclass(frozen=True)
class _CachedToken:
    client_id: str
    value: str
    renew_at: float


def scope_param(scopes: str) -> str:
    """The IMS ``scope`` form value from the secret's comma-separated ``scopes`` (spaces dropped)."""
    return ",".join(s.strip() for s in scopes.split(",") if s.strip())


class ImsTokenProvider:
    """Mints and caches IMS access tokens for the credential ``credentials()`` returns."""

    def __init__(
        self,
        http: HttpClient,
        ims_url: str,
        credentials: Callable[[], AdobeCredentials],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.ims_url = ims_url.rstrip("/")
        self._credentials = credentials
        self._clock = clock
        self._cached: _CachedToken | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid access token: the cached one, or a newly minted one."""
        creds = self._credentials()
        with self._lock:
            cached = self._cached
            # A credential change (the operator replaced the secret) must not reuse the old token.
            if cached is not None and cached.client_id == creds.client_id and self._clock() < cached.renew_at:
                return cached.value
            self._cached = self._mint(creds)
            return self._cached.value

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the gateway rejected it) so that it is never sent again."""
        with self._lock:
            if self._cached is not None and self._cached.value == token:
                self._cached = None

    def _mint(self, creds: AdobeCredentials) -> _CachedToken:
        form = {
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "grant_type": "client_credentials",
            "scope": scope_param(creds.scopes),
        }
        try:
            response = self.http.request("POST", f"{self.ims_url}{TOKEN_PATH}", data=form)
        except UpstreamUnavailable as exc:
            if exc.status == 429:
                raise AdobeThrottled("Adobe IMS is throttling token requests.", status=429) from exc
            raise AdobeUnavailable("Adobe IMS did not answer the token request.", status=exc.status) from exc
        body = response.json_or_none()
        if response.status == 200:
            # A success without a usable token (not JSON at all, e.g. a proxy's page) is a passing
            # failure, not a refusal of the credential.
            value = body.get("access_token") if isinstance(body, dict) else None
            expires_in = body.get("expires_in") if isinstance(body, dict) else None
            if isinstance(value, str) and value and isinstance(expires_in, (int, float)) and expires_in > 0:
                register_secret(value)
                now = self._clock()
                # Short-lived tokens (never seen from IMS) still get half their life.
                margin = min(EXPIRY_MARGIN_SECONDS, float(expires_in) / 2)
                return _CachedToken(creds.client_id, value, now + float(expires_in) - margin)
            raise AdobeResponseInvalid("Adobe IMS answered without an access token.", status=200)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, str) else None
        if error == "invalid_client":
            raise AdobeCredentialInvalid(
                "Adobe IMS does not accept the client id and secret in the adobe secret.",
                adobe_code=error,
                status=response.status,
            )
        if error == "invalid_scope":
            raise AdobeScopesInvalid(
                "Adobe IMS refused the scopes in the adobe secret.", adobe_code=error, status=response.status
            )
        if response.status == 429:
            raise AdobeThrottled("Adobe IMS is throttling token requests.", status=429)
        if response.status >= 500:
            raise AdobeUnavailable(f"Adobe IMS answered HTTP {response.status}.", status=response.status)
        raise AdobeImsRefused(
            f"Adobe IMS refused the token request (HTTP {response.status}).",
            adobe_code=error[:64] if error else None,
            status=response.status,
        )
