"""Connect links: Zoho's consent URL and the signed ``state`` it carries.

A state is ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))`` where the payload is a
compact JSON object: version, connection name, AEP sandbox, issue and expiry times, and a random
nonce. The callback accepts it only if the signature holds, it has not expired, and its nonce has
not been used (that last check is the connection store's: see ``connect.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from .datacenters import DataCenterTable
from .errors import (
    InvalidConnectionName,
    InvalidSandboxName,
    LinkTtlInvalid,
    StateExpired,
    StateInvalid,
    StateMissing,
    StateSignatureInvalid,
)
from .names import check_connection_name, check_sandbox_name

STATE_VERSION = 1
MAX_STATE_LENGTH = 1024
DEFAULT_TTL_MINUTES = 15
MAX_TTL_MINUTES = 7 * 24 * 60
_CLOCK_SKEW = 60  # seconds of issue-time slack between the operator's machine and Lambda


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise StateInvalid("The state is not base64url.")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise StateInvalid("The state is not base64url.") from exc


def _signature(key: str, payload: bytes) -> bytes:
    return hmac.new(key.encode("utf-8"), payload, hashlib.sha256).digest()


@dataclass(frozen=True)
class LinkState:
    """What a connect link promises the callback."""

    connection: str
    sandbox: str
    issued_at: int
    expires_at: int
    nonce: str

    @classmethod
    def new(cls, connection: str, sandbox: str, now: float, ttl_minutes: int = DEFAULT_TTL_MINUTES) -> LinkState:
        check_connection_name(connection)
        check_sandbox_name(sandbox)
        if not 1 <= ttl_minutes <= MAX_TTL_MINUTES:
            raise LinkTtlInvalid(f"A link lives 1 to {MAX_TTL_MINUTES} minutes.")
        issued = int(now)
        return cls(connection, sandbox, issued, issued + ttl_minutes * 60, secrets.token_urlsafe(16))

    def sign(self, key: str) -> str:
        payload = json.dumps(
            {
                "v": STATE_VERSION,
                "c": self.connection,
                "s": self.sandbox,
                "iat": self.issued_at,
                "exp": self.expires_at,
                "n": self.nonce,
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(_signature(key, payload))}"


def verify_state(key: str, token: str | None, now: float) -> LinkState:
    """The state's promise, if the signature holds and it has not expired; else a typed error.

    The signature is checked before the payload is parsed, so an attacker's JSON is never read.
    """
    if not token:
        raise StateMissing("The link's state is missing.")
    if len(token) > MAX_STATE_LENGTH or token.count(".") != 1:
        raise StateInvalid("The link's state is garbled.")
    payload_part, signature_part = token.split(".")
    payload = _b64decode(payload_part)
    signature = _b64decode(signature_part)
    if not hmac.compare_digest(signature, _signature(key, payload)):
        raise StateSignatureInvalid("The link's state is not signed by this stack.")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StateInvalid("The link's state is garbled.") from exc
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
        raise StateInvalid("The link's state has an unknown format.")
    fields = (data.get("c"), data.get("s"), data.get("iat"), data.get("exp"), data.get("n"))
    connection, sandbox, issued, expires, nonce = fields
    if not (isinstance(issued, int) and isinstance(expires, int) and isinstance(nonce, str) and nonce):
        raise StateInvalid("The link's state is incomplete.")
    try:
        state = LinkState(check_connection_name(connection), check_sandbox_name(sandbox), issued, expires, nonce)
    except (InvalidConnectionName, InvalidSandboxName) as exc:
        raise StateInvalid("The link's state names an invalid connection or sandbox.") from exc
    if now >= expires or issued > now + _CLOCK_SKEW:
        raise StateExpired("The connect link has expired.")
    return state


def authorization_url(
    authorization_server: str, client_id: str, redirect_uri: str, scopes: tuple[str, ...], state: str
) -> str:
    """Zoho's consent URL: offline access (a refresh token) and a forced consent screen.

    Without ``access_type=offline`` Zoho issues no refresh token, and without ``prompt=consent`` a
    reconnecting user gets none either.
    """
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": ",".join(scopes),
            "access_type": "offline",
            "prompt": "consent",
            "state": state,
        }
    )
    return f"{authorization_server}/oauth/v2/auth?{query}"


@dataclass(frozen=True)
class ConnectLink:
    """A connect link ready to hand out."""

    url: str
    state: LinkState
    data_center: str


def build_connect_link(
    *,
    table: DataCenterTable,
    client_id: str,
    state_key: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    connection: str,
    sandbox: str,
    data_center: str = "us",
    ttl_minutes: int = DEFAULT_TTL_MINUTES,
    now: float,
) -> ConnectLink:
    """Zoho's consent URL with a freshly signed state for ``connection``."""
    server = table.authorization_server(data_center)
    state = LinkState.new(connection, sandbox, now, ttl_minutes)
    url = authorization_url(server, client_id, redirect_uri, scopes, state.sign(state_key))
    return ConnectLink(url=url, state=state, data_center=data_center)


# ---- the stack's connect route: a link is checked before the consent --------------------------
CONNECT_PATH = "/oauth/connect"
DATA_CENTER_PARAM = "dc"  # which authorization server the consent starts on (only cn differs)


def connect_route_url(callback_url: str, link: ConnectLink) -> str:
    """The link a person gets: the stack's ``/oauth/connect`` route (beside the callback) with the
    Zoho consent URL's query, so the stack can say "used" or "expired" before Zoho asks anyone.

    The route checks the query as the callback would and redirects to Zoho's own consent page with
    the same parameters (``docs/callback.md``); the state stays the one signed here.
    """
    # A sibling of the callback (``.../oauth/callback`` -> ``.../oauth/connect``), so a custom domain's
    # base path is kept.
    base = callback_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[0]
    zoho_query = link.url.split("?", 1)[1]
    route = CONNECT_PATH.rsplit("/", 1)[1]
    return f"{base}/{route}?{zoho_query}&{urlencode({DATA_CENTER_PARAM: link.data_center})}"
