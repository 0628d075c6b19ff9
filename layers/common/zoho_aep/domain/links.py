"""Connect links: Zoho's consent URL and the signed ``state`` it carries.

A state is ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))`` where the payload is a
compact JSON object: version, connection name, AEP sandbox, issue and expiry times, and a random
nonce; optionally whether the link carries a PKCE challenge (``p``), and the Zoho org (``o``) and
data center (``d``) the operator expects. The callback accepts it only if the signature holds, it
has not expired, and its nonce has not been used (that last check is the connection store's: see
``connect.py``).

PKCE (RFC 7636, S256) ties a grant code to the link that asked for it: without it, a code minted
under one link was accepted with another link's state. The verifier is derived from the state key
and the link's nonce, so nothing new is stored: the callback derives it again from the verified state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from .datacenters import DataCenterTable
from .errors import (
    DataCenterUnknown,
    InvalidConnectionName,
    InvalidSandboxName,
    LinkTtlInvalid,
    StateExpired,
    StateInvalid,
    StateMissing,
    StateSignatureInvalid,
    ZohoOrgIdInvalid,
)
from .names import check_connection_name, check_sandbox_name

STATE_VERSION = 1
MAX_STATE_LENGTH = 1024
DEFAULT_TTL_MINUTES = 15
MAX_TTL_MINUTES = 7 * 24 * 60
_CLOCK_SKEW = 60  # seconds of issue-time slack between the operator's machine and Lambda
_ORG_ID = re.compile(r"[A-Za-z0-9]{1,64}")  # Zoho's org ids are long numbers; matched whole
_LOCATION = re.compile(r"[a-z0-9]{1,8}")  # a data-center key such as "eu" (the table decides which exist)
_PKCE_LABEL = b"zoho-aep pkce verifier\x00"  # keeps the verifier's MAC apart from the state's


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


def check_zoho_org_id(org_id: object) -> str:
    """A Zoho org id as an operator names it for a link (``--zoho-org-id``): letters and digits."""
    if not isinstance(org_id, str) or not _ORG_ID.fullmatch(org_id):
        raise ZohoOrgIdInvalid("A Zoho org id is 1-64 letters and digits (Zoho CRM: Setup > Company Details).")
    return org_id


def pkce_verifier(key: str, nonce: str) -> str:
    """The link's PKCE code verifier: 43 base64url characters derived from the state key and the nonce."""
    return _b64encode(hmac.new(key.encode("utf-8"), _PKCE_LABEL + nonce.encode("utf-8"), hashlib.sha256).digest())


def pkce_challenge(verifier: str) -> str:
    """``S256``: base64url(SHA-256(verifier)), what the authorization URL carries."""
    return _b64encode(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class LinkState:
    """What a connect link promises the callback.

    ``pkce``: the link carries a PKCE challenge, so the exchange must send its verifier.
    ``zoho_org_id`` / ``data_center``: what the operator expects; the callback refuses any other.
    """

    connection: str
    sandbox: str
    issued_at: int
    expires_at: int
    nonce: str
    pkce: bool = False
    zoho_org_id: str | None = None
    data_center: str | None = None

    @classmethod
    def new(
        cls,
        connection: str,
        sandbox: str,
        now: float,
        ttl_minutes: int = DEFAULT_TTL_MINUTES,
        *,
        pkce: bool = False,
        zoho_org_id: str | None = None,
        data_center: str | None = None,
    ) -> LinkState:
        check_connection_name(connection)
        check_sandbox_name(sandbox)
        if not 1 <= ttl_minutes <= MAX_TTL_MINUTES:
            raise LinkTtlInvalid(f"A link lives 1 to {MAX_TTL_MINUTES} minutes.")
        if zoho_org_id is not None:
            check_zoho_org_id(zoho_org_id)
        if data_center is not None and not _LOCATION.fullmatch(data_center):
            raise DataCenterUnknown("A data center is a short lower-case code such as eu.")
        issued = int(now)
        nonce = secrets.token_urlsafe(16)
        return cls(connection, sandbox, issued, issued + ttl_minutes * 60, nonce, pkce, zoho_org_id, data_center)

    def sign(self, key: str) -> str:
        fields: dict[str, object] = {
            "v": STATE_VERSION,
            "c": self.connection,
            "s": self.sandbox,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "n": self.nonce,
        }
        # Optional fields only when set: a link made before them reads exactly as it did.
        if self.pkce:
            fields["p"] = 1
        if self.zoho_org_id is not None:
            fields["o"] = self.zoho_org_id
        if self.data_center is not None:
            fields["d"] = self.data_center
        payload = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(_signature(key, payload))}"

    def code_verifier(self, key: str) -> str | None:
        """The PKCE verifier the exchange must send (None when the link carries no challenge)."""
        return pkce_verifier(key, self.nonce) if self.pkce else None


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
    pkce, org_id, location = data.get("p", 0), data.get("o"), data.get("d")
    if (
        pkce not in (0, 1)
        or isinstance(pkce, bool)
        or (org_id is not None and not (isinstance(org_id, str) and _ORG_ID.fullmatch(org_id)))
        or (location is not None and not (isinstance(location, str) and _LOCATION.fullmatch(location)))
    ):
        raise StateInvalid("The link's state has an unknown format.")
    try:
        names = check_connection_name(connection), check_sandbox_name(sandbox)
    except (InvalidConnectionName, InvalidSandboxName) as exc:
        raise StateInvalid("The link's state names an invalid connection or sandbox.") from exc
    state = LinkState(*names, issued, expires, nonce, pkce == 1, org_id, location)
    if now >= expires or issued > now + _CLOCK_SKEW:
        raise StateExpired("The connect link has expired.")
    return state


def authorization_url(
    authorization_server: str,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    state: str,
    code_challenge: str | None = None,
) -> str:
    """Zoho's consent URL: offline access (a refresh token), a forced consent screen, PKCE when given.

    Without ``access_type=offline`` Zoho issues no refresh token, and without ``prompt=consent`` a
    reconnecting user gets none either.
    """
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": ",".join(scopes),
        "access_type": "offline",
        "prompt": "consent",
        "state": state,
    }
    if code_challenge is not None:
        params.update({"code_challenge": code_challenge, "code_challenge_method": "S256"})
    return f"{authorization_server}/oauth/v2/auth?{urlencode(params)}"


@dataclass(frozen=True)
class ConnectLink:
    """A connect link ready to hand out; ``data_center`` is where it starts (and, if named, the only one it takes)."""

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
    data_center: str | None = None,
    zoho_org_id: str | None = None,
    pkce: bool = True,
    ttl_minutes: int = DEFAULT_TTL_MINUTES,
    now: float,
) -> ConnectLink:
    """Zoho's consent URL with a freshly signed state for ``connection``.

    ``data_center`` and ``zoho_org_id``, when given, are signed into the state: the callback then
    refuses a consent from any other data center or org. ``pkce`` adds an S256 challenge.
    """
    server = table.authorization_server(data_center or "us")
    state = LinkState.new(
        connection, sandbox, now, ttl_minutes, pkce=pkce, zoho_org_id=zoho_org_id, data_center=data_center
    )
    verifier = state.code_verifier(state_key)
    challenge = pkce_challenge(verifier) if verifier is not None else None
    url = authorization_url(server, client_id, redirect_uri, scopes, state.sign(state_key), challenge)
    return ConnectLink(url=url, state=state, data_center=data_center or "us")


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
