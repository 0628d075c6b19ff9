"""Zoho's OAuth 2.0 token endpoints and the one CRM call a consent needs (who is this org?).

Zoho's quirks handled here, once:
- errors often come with HTTP 200: success means an ``access_token`` in the body, nothing else;
- ``invalid_code`` means "grant code spent or expired" on a code exchange, but "consent revoked" on a
  refresh; the caller says which grant it made;
- throttling arrives as ``"error": "Access Denied"`` with a description that may be localized, and
  with any status;
- legacy answers carry ``expires_in_sec`` (seconds) beside ``expires_in`` in milliseconds;
- a refresh answer carries no refresh token (the caller keeps the old one).
Secrets travel only in form bodies, never in URLs, and only to the accounts server of the data
center they belong to (callers pass a :class:`DataCenter` or a stored accounts server).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from ...domain.datacenters import DataCenter
from ...domain.errors import (
    UpstreamUnavailable,
    ZohoApiDomainInvalid,
    ZohoClientInvalid,
    ZohoCodeInvalid,
    ZohoConsentRevoked,
    ZohoError,
    ZohoRedirectUriMismatch,
    ZohoRefreshTokenMissing,
    ZohoResponseInvalid,
    ZohoScopeMismatch,
    ZohoThrottled,
    ZohoTokenInvalid,
    ZohoUnavailable,
)
from ..http import HttpClient, HttpResponse
from ..logs import register_secret

DEFAULT_EXPIRES_IN = 3600
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")  # matched whole (fullmatch)
# A token we can store and send back in a header: visible ASCII only (Zoho's are "1000.<hex>.<hex>").
_TOKEN_TEXT = re.compile(r"[!-~]{1,4096}")
_USER_ID = re.compile(r"[A-Za-z0-9]{1,64}")  # Zoho's user ids are long numbers; it goes into a tag


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint gave us. ``refresh_token`` is None on refresh answers."""

    access_token: str
    refresh_token: str | None
    api_domain: str | None
    expires_in: int  # seconds
    scope: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret


@dataclass(frozen=True)
class ZohoOrg:
    id: str
    name: str


@dataclass(frozen=True)
class ZohoUser:
    """The Zoho user who consented (Zoho keeps 20 refresh tokens per user and client)."""

    id: str


def _expires_in_seconds(body: dict[str, object]) -> int:
    """Seconds until expiry; the legacy ``expires_in_sec`` wins over ``expires_in`` (then in ms)."""
    legacy = body.get("expires_in_sec")
    if isinstance(legacy, (int, float)) and not isinstance(legacy, bool) and legacy > 0:
        return int(legacy)
    value = body.get("expires_in")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        # An hour-long token never lasts 100,000 s: a value that large is milliseconds.
        return int(value / 1000) if value >= 100_000 else int(value)
    return DEFAULT_EXPIRES_IN


def _is_throttling(error: str, description: str) -> bool:
    if error.strip().lower() == "access denied" or "too many requests" in description.lower():
        return True
    # Zoho's real error codes are snake_case identifiers. Human text in the error field (seen
    # localized, e.g. in Chinese) is its throttling notice in another language.
    return bool(error) and not _IDENTIFIER.fullmatch(error)


class ZohoOAuthClient:
    """Code exchange, refresh, revoke and org lookup against Zoho (connect links are ``domain.links``)."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    # ---- tokens ---------------------------------------------------------------------------------
    def exchange_code(
        self,
        dc: DataCenter,
        client_id: str,
        client_secret: str,
        code: str,
        redirect_uri: str | None,
        code_verifier: str | None = None,
    ) -> TokenSet:
        """Trade a grant code for tokens at ``dc``'s accounts server.

        ``redirect_uri`` is None for self-client codes made in Zoho's API console; ``code_verifier``
        is the link's PKCE verifier when its authorization URL carried a challenge. The answer must
        carry a refresh token and an ``api_domain`` of ``dc``; otherwise the fresh refresh token is
        revoked (it would count against Zoho's 20-per-user limit) and an error raised.
        """
        form = {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": client_secret,
            "code": code,
        }
        if redirect_uri is not None:
            form["redirect_uri"] = redirect_uri
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        tokens = self._token_call(dc.accounts_url, form, refreshing=False)
        if not tokens.refresh_token:
            raise ZohoRefreshTokenMissing(
                "Zoho issued no refresh token: the link must ask for offline access and a forced consent."
            )
        if tokens.api_domain is not None and not dc.allows_api_domain(tokens.api_domain):
            with contextlib.suppress(ZohoUnavailable, ZohoResponseInvalid):  # the refusal is what matters
                self.revoke(dc.accounts_url, tokens.refresh_token)
            raise ZohoApiDomainInvalid("Zoho named an API host outside the data center; the token was revoked.")
        if tokens.api_domain is None:
            tokens = TokenSet(
                tokens.access_token, tokens.refresh_token, dc.default_api_domain, tokens.expires_in, tokens.scope
            )
        return tokens

    def refresh(self, accounts_url: str, client_id: str, client_secret: str, refresh_token: str) -> TokenSet:
        """Mint a new access token. The answer has no refresh token: the caller keeps its own."""
        form = {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        }
        return self._token_call(accounts_url, form, refreshing=True)

    def revoke(self, accounts_url: str, refresh_token: str) -> bool:
        """Revoke a refresh token (and its access tokens). True when Zoho confirmed it, False when Zoho
        answered that it would not (unknown, already revoked). An answer that says neither raises
        ``ZohoResponseInvalid``: the token may still be live, so callers must keep it to try again."""
        try:
            response = self.http.request("POST", f"{accounts_url}/oauth/v2/token/revoke", data={"token": refresh_token})
        except UpstreamUnavailable as exc:
            raise ZohoUnavailable("Zoho did not answer the revocation.") from exc
        body = response.json_or_none()
        if response.status >= 500:
            raise ZohoUnavailable(f"Zoho answered the revocation with HTTP {response.status}.")
        if not isinstance(body, dict):
            raise ZohoResponseInvalid("Zoho's answer to the revocation could not be read.")
        return body.get("status") == "success"

    def _token_call(self, accounts_url: str, form: dict[str, str], *, refreshing: bool) -> TokenSet:
        try:
            response = self.http.request("POST", f"{accounts_url}/oauth/v2/token", data=form)
        except UpstreamUnavailable as exc:
            raise ZohoUnavailable("Zoho's accounts server did not answer.") from exc
        return self.parse_token_response(response, refreshing=refreshing)

    @staticmethod
    def parse_token_response(response: HttpResponse, *, refreshing: bool) -> TokenSet:
        """Turn a token endpoint answer into a TokenSet or the typed error it means."""
        body = response.json_or_none()
        if isinstance(body, dict) and isinstance(body.get("access_token"), str) and body["access_token"]:
            access = body["access_token"]
            refresh = body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None
            register_secret(access, refresh)
            if not _TOKEN_TEXT.fullmatch(access) or (refresh and not _TOKEN_TEXT.fullmatch(refresh)):
                # A control character or space in a token would break the header it goes into.
                raise ZohoResponseInvalid("Zoho's token answer held a token that is not plain text.")
            api_domain = body.get("api_domain") if isinstance(body.get("api_domain"), str) else None
            scope = body.get("scope") if isinstance(body.get("scope"), str) else None
            return TokenSet(access, refresh or None, api_domain, _expires_in_seconds(body), scope)
        if response.status == 429:
            raise ZohoThrottled("Zoho is throttling this client.")
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            error = body["error"]
            description = body.get("error_description")
            description = description if isinstance(description, str) else ""
            if _is_throttling(error, description):
                raise ZohoThrottled("Zoho is throttling this client: too many requests.")
            if error == "invalid_code":
                if refreshing:
                    raise ZohoConsentRevoked("Zoho refused the refresh token: consent was revoked.")
                raise ZohoCodeInvalid("The Zoho grant code was already used or has expired.")
            if error in ("invalid_client", "invalid_client_secret", "unauthorized_client"):
                raise ZohoClientInvalid("Zoho does not accept this client id and secret for this data center.")
            if error == "invalid_redirect_uri":
                raise ZohoRedirectUriMismatch("Zoho does not accept the redirect URI (CALLBACK_URL).")
            raise ZohoResponseInvalid(f"Zoho answered with error '{error[:40]}'.")
        if response.status >= 500:
            raise ZohoUnavailable(f"Zoho's accounts server answered HTTP {response.status}.")
        raise ZohoResponseInvalid(f"Zoho's token answer (HTTP {response.status}) had no access token.")

    # ---- CRM ------------------------------------------------------------------------------------
    def get_org(self, api_domain: str, access_token: str) -> ZohoOrg:
        """``GET {api_domain}/crm/v8/org``: the org the token belongs to."""
        try:
            response = self.http.request(
                "GET",
                f"{api_domain}/crm/v8/org",
                headers={"Authorization": f"Zoho-oauthtoken {access_token}"},
            )
        except UpstreamUnavailable as exc:
            raise ZohoUnavailable("Zoho CRM did not answer the org lookup.") from exc
        body = response.json_or_none()
        if response.status == 200 and isinstance(body, dict):
            orgs = body.get("org")
            if isinstance(orgs, list) and orgs and isinstance(orgs[0], dict) and orgs[0].get("id") is not None:
                org = orgs[0]
                return ZohoOrg(id=str(org["id"]), name=str(org.get("company_name") or ""))
            raise ZohoResponseInvalid("Zoho CRM's org answer named no org.")
        raise _crm_refusal(response, body, "the org lookup", "ZohoCRM.org.READ")

    def get_current_user(self, api_domain: str, access_token: str) -> ZohoUser:
        """``GET {api_domain}/crm/v8/users?type=CurrentUser``: who consented (scope ``ZohoCRM.users.READ``)."""
        try:
            response = self.http.request(
                "GET",
                f"{api_domain}/crm/v8/users",
                params={"type": "CurrentUser"},
                headers={"Authorization": f"Zoho-oauthtoken {access_token}"},
            )
        except UpstreamUnavailable as exc:
            raise ZohoUnavailable("Zoho CRM did not answer the user lookup.") from exc
        body = response.json_or_none()
        if response.status == 200 and isinstance(body, dict):
            users = body.get("users")
            if isinstance(users, list) and users and isinstance(users[0], dict):
                user_id = users[0].get("id")
                if (
                    isinstance(user_id, (str, int))
                    and not isinstance(user_id, bool)
                    and _USER_ID.fullmatch(str(user_id))
                ):
                    return ZohoUser(id=str(user_id))
            raise ZohoResponseInvalid("Zoho CRM's user answer named no user.")
        raise _crm_refusal(response, body, "the user lookup", "ZohoCRM.users.READ")


def _crm_refusal(response: HttpResponse, body: object, what: str, scope: str) -> ZohoError:
    """The typed error a CRM refusal stands for (its ``code``, else its status)."""
    code = body.get("code") if isinstance(body, dict) else None
    if code == "OAUTH_SCOPE_MISMATCH":
        return ZohoScopeMismatch(f"The granted scopes do not allow {what} ({scope}).")
    if code in ("INVALID_TOKEN", "INVALID_OAUTHTOKEN", "AUTHENTICATION_FAILURE"):
        return ZohoTokenInvalid("Zoho CRM refused the new access token.")
    if code == "INVALID_HOST":
        return ZohoApiDomainInvalid("Zoho CRM says this API host is wrong for the org.")
    if response.status >= 500:
        return ZohoUnavailable(f"Zoho CRM answered HTTP {response.status}.")
    return ZohoResponseInvalid(f"Zoho CRM's {what[4:]} failed (HTTP {response.status}).")
