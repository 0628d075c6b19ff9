"""A local stand-in for Zoho's accounts servers and CRM API, quirks included.

Zoho runs one accounts server and one API domain per data center (DC); a grant code, refresh token or
access token only works in the DC that issued it, and the client secret may differ per DC. To let the
product's tests exercise all of that offline, this emulator starts one HTTP server per DC, all sharing one
state. Each server answers both the OAuth paths (``/oauth/v2/...``) and the CRM paths (``/crm/v8/...``),
so ``accounts_url(dc)`` and ``api_domain(dc)`` are the same base URL.

The quirks that bite real integrations are reproduced on purpose: OAuth errors with HTTP 200, no refresh
token without ``access_type=offline`` or on re-consent without ``prompt=consent``, three-minute single-use
grant codes, PKCE (a code whose authorization request carried a ``code_challenge`` is exchanged only with
its ``code_verifier``; Zoho documents S256 for mobile and desktop clients), 10 access tokens per refresh
token per 10 minutes, 15 active access tokens per refresh token, 20 refresh tokens per user per client,
10 grant codes per client per 10 minutes, a localizable throttling text and the legacy ``expires_in``
in milliseconds. Time comes from the injected clock so
tests can jump ahead without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import http.client
import json
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from zoho_aep.domain.datacenters import DataCenterTable

from .base import Emulator, Request, Response
from .zoho_crm import CrmRecords, crm_error

__all__ = ["DEFAULT_DATA_CENTERS", "DEFAULT_THROTTLE_DESCRIPTION", "ConsentError", "ZohoEmulator"]

# Every data center the product knows, so the emulator serves each one the product may call.
DEFAULT_DATA_CENTERS: tuple[str, ...] = tuple(DataCenterTable.builtin())
DEFAULT_THROTTLE_DESCRIPTION = "You have made too many requests continuously. Please try again after some time."

CODE_TTL = 180.0  # seconds a grant code stays exchangeable: three minutes, as Zoho's v8 OAuth page says
ACCESS_TTL = 3600.0  # seconds an access token lives
WINDOW = 600.0  # the 10-minute window of Zoho's rate limits
MAX_CODES_PER_WINDOW = 10  # grant codes per client per window
MAX_MINTS_PER_WINDOW = 10  # access tokens per refresh token per window
MAX_ACTIVE_ACCESS = 15  # active access tokens per refresh token
MAX_REFRESH_PER_USER = 20  # live refresh tokens per user per client

DECISION_PATH = "/oauth/v2/auth/decision"

_MODULES: tuple[tuple[str, str], ...] = (
    ("Leads", "Leads"),
    ("Contacts", "Contacts"),
    ("Accounts", "Accounts"),
    ("Deals", "Deals"),
    ("Campaigns", "Campaigns"),
    ("Tasks", "Tasks"),
)


class ConsentError(RuntimeError):
    """The programmatic browser did not get the redirect it expected (error page, missing button...)."""

    def __init__(self, status: int, body: str, reason: str) -> None:
        super().__init__(f"consent failed ({reason}): HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body
        self.reason = reason


# ---- state --------------------------------------------------------------------------------------
@dataclass
class _Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    secrets_by_dc: dict[str, str]

    def secret_for(self, dc: str) -> str:
        """Zoho lets a multi-DC client have one secret per DC; only that one works there."""
        return self.secrets_by_dc.get(dc, self.client_secret)


@dataclass
class _Org:
    org_id: str
    dc: str
    company_name: str


@dataclass
class _User:
    email: str
    dc: str
    org_id: str
    user_id: str

    @property
    def full_name(self) -> str:
        local = self.email.split("@", 1)[0]
        return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part) or self.email


@dataclass
class _PendingAuth:
    """An authorization request shown on a consent page, waiting for Accept/Reject."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    access_type: str
    prompt: str
    user: str
    code_challenge: str | None = None
    code_challenge_method: str | None = None


@dataclass
class _Grant:
    code: str
    client_id: str
    redirect_uri: str | None  # None for self-client codes
    scope: str
    user: str
    dc: str
    access_type: str
    prompt: str
    issued_at: float
    self_client: bool = False
    spent: bool = False
    code_challenge: str | None = None
    code_challenge_method: str | None = None

    def verifier_matches(self, verifier: str | None) -> bool:
        """PKCE: without a challenge any exchange is fine; with one, only its verifier (RFC 7636)."""
        if self.code_challenge is None:
            return True
        if not verifier:
            return False
        if self.code_challenge_method == "plain":
            derived = verifier
        else:
            digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
            derived = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return hmac.compare_digest(derived.encode(), self.code_challenge.encode())


@dataclass
class _RefreshToken:
    token: str
    client_id: str
    user: str
    dc: str
    org_id: str
    scope: str
    issued_at: float
    revoked: bool = False
    minted: int = 0  # access tokens minted by refresh grants, in total
    mint_times: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    access_tokens: list[str] = field(default_factory=list)  # oldest first


@dataclass
class _AccessToken:
    token: str
    client_id: str
    user: str
    dc: str
    org_id: str
    scope: str
    issued_at: float
    refresh_token: str | None
    killed: bool = False

    def alive(self, now: float) -> bool:
        return not self.killed and now - self.issued_at < ACCESS_TTL


def _zoho_token() -> str:
    """Zoho's token shape: ``1000.<32 hex>.<32 hex>``."""
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


def _scopes(scope: str) -> list[str]:
    return [s for s in scope.replace(",", " ").split() if s]


# ---- the emulator -------------------------------------------------------------------------------
class ZohoEmulator(Emulator):
    """Zoho accounts + CRM for every configured data center, on one shared state."""

    def __init__(
        self,
        data_centers: Iterable[str] = DEFAULT_DATA_CENTERS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__("zoho", clock)
        self._dc_names: tuple[str, ...] = tuple(dict.fromkeys(data_centers))
        if not self._dc_names:
            raise ValueError("at least one data center is needed")
        self._urls: dict[str, str] = {}
        self._state = threading.RLock()
        # knobs
        self.error_status: int = 200
        self.throttle_description: str = DEFAULT_THROTTLE_DESCRIPTION
        self.legacy_expiry: bool = False
        self._override: dict[str, Any] | None = None
        self._throttle_pending = 0
        # state
        self._clients: dict[str, _Client] = {}
        self._orgs: dict[str, _Org] = {}
        self._users: dict[str, _User] = {}
        self._current_user: str | None = None
        self._pending: dict[str, _PendingAuth] = {}
        self._grants: dict[str, _Grant] = {}
        self._code_times: dict[str, deque[float]] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._access: dict[str, _AccessToken] = {}
        # The orgs' CRM records and Bulk Read (``zoho_crm``); its clock is this emulator's, whenever set.
        self.crm = CrmRecords(lambda: self.clock())

        self.route("GET", "/oauth/v2/auth", self._auth_page)
        self.route("POST", DECISION_PATH, self._auth_decision)
        self.route("POST", "/oauth/v2/token", self._token)
        self.route("POST", "/oauth/v2/token/revoke", self._revoke)
        self.route("GET", "/crm/v8/org", self._crm_org)
        self.route("GET", "/crm/v8/users", self._crm_users)
        self.route("GET", "/crm/v8/settings/modules", self._crm_modules)
        self.route("GET", "/crm/v8/settings/fields", self._crm_fields)
        self.route("POST", "/crm/bulk/v8/read", self._bulk_create)
        self.route("GET", "/crm/bulk/v8/read/", self._bulk_job)
        self.route("GET", "/crm/v8/", self._crm_module_path)

    # ---- lifecycle and addresses --------------------------------------------------------------
    def start(self) -> ZohoEmulator:
        """Start one server per data center, each on its own free port."""
        for dc in self._dc_names:
            if dc not in self._urls:
                self._urls[dc] = self.serve()
        return self

    def stop(self) -> None:
        """Shut the per-DC servers down in parallel (each waits one poll), then let the base close them."""
        with self._lock:
            servers = list(self._servers)
        stoppers = [threading.Thread(target=server.shutdown, daemon=True) for server in servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        super().stop()  # shutdown() again returns at once; this closes the sockets
        self._urls.clear()

    def accounts_url(self, dc: str) -> str:
        try:
            return self._urls[dc]
        except KeyError:
            raise KeyError(f"data center {dc!r} is not served (known: {self._dc_names}; started?)") from None

    def api_domain(self, dc: str) -> str:
        """The same server answers the CRM paths, so the API domain is the accounts URL."""
        return self.accounts_url(dc)

    def data_centers_json(self) -> str:
        """The value for ``ZOHO_DATA_CENTERS_JSON``: each DC's accounts URL and API domains."""
        return json.dumps(
            {dc: {"accounts_url": self.accounts_url(dc), "api_domains": [self.api_domain(dc)]} for dc in self._dc_names}
        )

    def dc_of(self, base_url: str) -> str:
        wanted = base_url.rstrip("/")
        for dc, url in self._urls.items():
            if url == wanted:
                return dc
        raise ValueError(f"{base_url!r} is not one of this emulator's servers")

    # ---- setup --------------------------------------------------------------------------------
    def register_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str] = (),
        secrets_by_dc: dict[str, str] | None = None,
    ) -> None:
        """Register (or replace) a server-based client as in Zoho's API console, multi-DC enabled."""
        with self._state:
            self._clients[client_id] = _Client(
                client_id, client_secret, tuple(redirect_uris), dict(secrets_by_dc or {})
            )

    def add_org(self, dc: str, org_id: str, company_name: str, user: str = "admin@example.com") -> None:
        """Add an org in ``dc`` with one user; the first user ever added consents by default."""
        if dc not in self._dc_names:
            raise ValueError(f"unknown data center {dc!r}")
        with self._state:
            org = self._orgs.get(org_id)
            if org is not None and org.dc != dc:
                raise ValueError(f"org {org_id} already lives in {org.dc}")
            existing = self._users.get(user)
            if existing is not None and existing.org_id != org_id:
                raise ValueError(f"user {user} already belongs to org {existing.org_id} ({existing.dc})")
            self._orgs[org_id] = _Org(org_id, dc, company_name)
            self.crm.add_org(org_id)
            if existing is None:
                user_id = str(4_876_000_000_000_000 + len(self._users) + 1)
                self._users[user] = _User(user, dc, org_id, user_id)
            if self._current_user is None:
                self._current_user = user

    def set_user(self, user: str) -> None:
        """Choose who is signed in to the browser for the next consent."""
        with self._state:
            if user not in self._users:
                raise KeyError(f"unknown user {user!r}; add_org() it first")
            self._current_user = user

    # ---- knobs --------------------------------------------------------------------------------
    def override_next_token_response(self, **changes: Any) -> None:
        """One-shot: merge ``changes`` into the next successful token answer; ``None`` removes a key.

        Only the answer changes; server-side state (e.g. a refresh token that was issued) stays.
        """
        with self._state:
            self._override = dict(changes)

    def throttle_next(self, n: int = 1) -> None:
        """The next ``n`` calls to ``/oauth/v2/token`` answer Zoho's throttling error."""
        with self._state:
            self._throttle_pending += n

    def revoke_consent(self, refresh_token: str) -> None:
        """The user removed the app under Connected Apps: all of that user's grants to the client die."""
        with self._state:
            rt = self._refresh[refresh_token]
            for other in self._refresh.values():
                if other.client_id == rt.client_id and other.user == rt.user:
                    self._revoke_refresh(other)
            for at in self._access.values():
                if at.client_id == rt.client_id and at.user == rt.user:
                    at.killed = True

    def delete_client(self, client_id: str) -> None:
        """The client was deleted in the API console: it and every token it holds stop working."""
        with self._state:
            self._clients.pop(client_id, None)
            for rt in self._refresh.values():
                if rt.client_id == client_id:
                    self._revoke_refresh(rt)
            for at in self._access.values():
                if at.client_id == client_id:
                    at.killed = True

    # ---- introspection ------------------------------------------------------------------------
    def refresh_token_info(self, token: str) -> dict[str, Any]:
        """State of a refresh token; ``minted`` counts access tokens from refresh grants only."""
        with self._state:
            rt = self._refresh[token]
            return {
                "revoked": rt.revoked,
                "dc": rt.dc,
                "user": rt.user,
                "org_id": rt.org_id,
                "scope": rt.scope,
                "minted": rt.minted,
            }

    def live_refresh_tokens(self, client_id: str, user: str | None = None) -> list[str]:
        """Unrevoked refresh tokens of a client (optionally one user's), oldest first."""
        with self._state:
            return [
                rt.token
                for rt in self._refresh.values()
                if rt.client_id == client_id and not rt.revoked and (user is None or rt.user == user)
            ]

    def user_id(self, user: str) -> str:
        """The CRM id of a user (``GET /crm/v8/users?type=CurrentUser`` answers it)."""
        with self._state:
            return self._users[user].user_id

    def access_token_valid(self, token: str) -> bool:
        with self._state:
            at = self._access.get(token)
            return at is not None and at.alive(self.clock())

    def access_token_refresh_token(self, token: str) -> str | None:
        """The refresh token an access token belongs to (minted by it, or issued with it)."""
        with self._state:
            at = self._access.get(token)
            return at.refresh_token if at is not None else None

    # ---- test helpers that act like the user --------------------------------------------------
    def issue_self_client_code(self, client_id: str, dc: str, scope: str, user: str | None = None) -> str:
        """A grant code generated in the API console (self client): no redirect_uri, always offline.

        Exempt from the grant-code rate limit, which guards the browser flow.
        """
        with self._state:
            if client_id not in self._clients:
                raise KeyError(f"unknown client {client_id!r}")
            if user is None:
                current = self._users.get(self._current_user or "")
                if current is not None and current.dc == dc:
                    user = current.email
                else:
                    user = next((u.email for u in self._users.values() if u.dc == dc), None)
                if user is None:
                    raise ValueError(f"no user in data center {dc!r}; add_org() first")
            elif user not in self._users or self._users[user].dc != dc:
                raise ValueError(f"user {user!r} does not live in data center {dc!r}")
            grant = _Grant(
                code=_zoho_token(),
                client_id=client_id,
                redirect_uri=None,
                scope=scope,
                user=user,
                dc=dc,
                access_type="offline",
                prompt="consent",
                issued_at=self.clock(),
                self_client=True,
            )
            self._grants[grant.code] = grant
            return grant.code

    def consent(self, auth_url: str, accept: bool = True) -> str:
        """Act as the browser: load the consent page, press Accept or Reject, return the redirect.

        Both steps are real HTTP requests (so they show up in the request log); the redirect is not
        followed. Raises :class:`ConsentError` when Zoho shows an error page instead.
        """
        status, _, body = _http_call("GET", auth_url)
        if status != 200:
            raise ConsentError(status, body, "the authorization page is an error page")
        label = "Accept" if accept else "Reject"
        parser = _FormParser()
        parser.feed(body)
        form = next((f for f in parser.forms if label in f.buttons), None)
        if form is None:
            raise ConsentError(status, body, f"no {label!r} button on the consent page")
        status, headers, body = _http_call(
            form.method.upper() or "POST",
            urljoin(auth_url, form.action),
            urlencode(form.fields),
        )
        location = headers.get("location")
        if status not in (301, 302, 303, 307, 308) or not location:
            raise ConsentError(status, body, "the decision did not redirect")
        return location

    # ---- OAuth: authorization -----------------------------------------------------------------
    def _auth_page(self, request: Request) -> Response:
        q = request.query
        with self._state:
            client = self._clients.get(q.get("client_id", ""))
            if client is None:
                return _error_page("invalid_client", "This application is not registered.")
            if q.get("response_type") != "code":
                return _error_page("unsupported_response_type", "response_type must be 'code'.")
            redirect_uri = q.get("redirect_uri", "")
            if redirect_uri not in client.redirect_uris:
                return _error_page("invalid_redirect_uri", "The redirect URI does not match the registered one.")
            scope = q.get("scope", "").strip()
            if not scope:
                return _error_page("invalid_scope", "No scope was requested.")
            user = self._users.get(self._current_user or "")
            if user is None:
                return _error_page("no_user", "Nobody is signed in (add_org() a user first).")
            challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
            if challenge is not None and (method or "plain") not in ("S256", "plain"):
                return _error_page("invalid_request", "code_challenge_method must be S256.")
            request_id = secrets.token_urlsafe(24)
            self._pending[request_id] = _PendingAuth(
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                scope=scope,
                state=q.get("state"),
                access_type=q.get("access_type", "online"),
                prompt=q.get("prompt", ""),
                user=user.email,
                code_challenge=challenge,
                code_challenge_method=(method or "plain") if challenge is not None else None,
            )
        return Response.html(_consent_page(client.client_id, scope, user, request_id))

    def _auth_decision(self, request: Request) -> Response:
        form = request.form
        with self._state:
            pending = self._pending.pop(form.get("request_id", ""), None)
            if pending is None:
                return _error_page("invalid_request", "This authorization request is unknown or already answered.")
            if pending.client_id not in self._clients:
                return _error_page("invalid_client", "This application is not registered.")
            decision = form.get("decision")
            if decision == "reject":
                params = [("error", "access_denied")]
                if pending.state is not None:
                    params.append(("state", pending.state))
                return Response.redirect(_append_query(pending.redirect_uri, params))
            if decision != "accept":
                return _error_page("invalid_request", "Unknown decision.")
            now = self.clock()
            times = self._code_times.setdefault(pending.client_id, deque())
            while times and times[0] <= now - WINDOW:
                times.popleft()
            if len(times) >= MAX_CODES_PER_WINDOW:
                return _error_page("too_many_codes", "Too many grant codes were requested; try again later.")
            times.append(now)
            user = self._users[pending.user]
            grant = _Grant(
                code=_zoho_token(),
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                scope=pending.scope,
                user=user.email,
                dc=user.dc,
                access_type=pending.access_type,
                prompt=pending.prompt,
                issued_at=now,
                code_challenge=pending.code_challenge,
                code_challenge_method=pending.code_challenge_method,
            )
            self._grants[grant.code] = grant
            params = []
            if pending.state is not None:
                params.append(("state", pending.state))
            params += [("code", grant.code), ("location", user.dc), ("accounts-server", self.accounts_url(user.dc))]
            return Response.redirect(_append_query(pending.redirect_uri, params))

    # ---- OAuth: tokens ------------------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        params = {**request.query, **request.form}  # Zoho accepts query parameters too
        dc = self.dc_of(request.server)
        with self._state:
            if self._throttle_pending > 0:
                self._throttle_pending -= 1
                return self._throttled()
            client = self._clients.get(params.get("client_id", ""))
            if client is None:
                return self._oauth_error("invalid_client")
            if not hmac.compare_digest(params.get("client_secret", "").encode(), client.secret_for(dc).encode()):
                return self._oauth_error("invalid_client_secret")
            grant_type = params.get("grant_type")
            if grant_type == "authorization_code":
                return self._exchange_code(client, dc, params)
            if grant_type == "refresh_token":
                return self._refresh_grant(client, dc, params)
            return self._oauth_error("unsupported_grant_type")

    def _exchange_code(self, client: _Client, dc: str, params: dict[str, str]) -> Response:
        now = self.clock()
        grant = self._grants.get(params.get("code", ""))
        # a code from another DC or client is unknown here, so it is not spent either
        if grant is None or grant.dc != dc or grant.client_id != client.client_id or grant.spent:
            return self._oauth_error("invalid_code")
        grant.spent = True
        if now - grant.issued_at >= CODE_TTL:
            return self._oauth_error("invalid_code")
        if not grant.self_client and params.get("redirect_uri") != grant.redirect_uri:
            return self._oauth_error("invalid_redirect_uri")
        if not grant.verifier_matches(params.get("code_verifier")):
            return self._oauth_error("invalid_code")  # the code belongs to another authorization request
        user = self._users[grant.user]
        holds_one = bool(self.live_refresh_tokens(client.client_id, user.email))
        wants_refresh = grant.access_type == "offline" and (grant.prompt == "consent" or not holds_one)
        rt = self._issue_refresh(client.client_id, user, grant.scope, now) if wants_refresh else None
        access = self._mint_access(client.client_id, user, grant.scope, rt, now)
        payload: dict[str, Any] = {"access_token": access}
        if rt is not None:
            payload["refresh_token"] = rt.token
        payload["scope"] = grant.scope
        return self._token_answer(payload, dc)

    def _refresh_grant(self, client: _Client, dc: str, params: dict[str, str]) -> Response:
        now = self.clock()
        rt = self._refresh.get(params.get("refresh_token", ""))
        if rt is None or rt.revoked or rt.dc != dc or rt.client_id != client.client_id:
            return self._oauth_error("invalid_code")
        while rt.mint_times and rt.mint_times[0] <= now - WINDOW:
            rt.mint_times.popleft()
        if len(rt.mint_times) >= MAX_MINTS_PER_WINDOW:
            # blocked until every mint of this burst has left the window
            rt.blocked_until = max(rt.blocked_until, rt.mint_times[-1] + WINDOW)
        if now < rt.blocked_until:
            return self._throttled()
        user = self._users[rt.user]
        access = self._mint_access(client.client_id, user, rt.scope, rt, now)
        rt.minted += 1
        rt.mint_times.append(now)
        return self._token_answer({"access_token": access, "scope": rt.scope}, dc)

    def _revoke(self, request: Request) -> Response:
        params = {**request.query, **request.form}
        dc = self.dc_of(request.server)
        with self._state:
            rt = self._refresh.get(params.get("token", ""))
            if rt is None or rt.revoked or rt.dc != dc:
                return Response.json({"status": "failure"})
            self._revoke_refresh(rt)
            return Response.json({"status": "success"})

    # ---- token bookkeeping (call with the state lock held) ------------------------------------
    def _issue_refresh(self, client_id: str, user: _User, scope: str, now: float) -> _RefreshToken:
        live = [self._refresh[t] for t in self.live_refresh_tokens(client_id, user.email)]
        while len(live) >= MAX_REFRESH_PER_USER:
            self._revoke_refresh(live.pop(0))  # Zoho silently drops the oldest
        rt = _RefreshToken(_zoho_token(), client_id, user.email, user.dc, user.org_id, scope, now)
        self._refresh[rt.token] = rt
        return rt

    def _mint_access(self, client_id: str, user: _User, scope: str, rt: _RefreshToken | None, now: float) -> str:
        at = _AccessToken(
            _zoho_token(), client_id, user.email, user.dc, user.org_id, scope, now, rt.token if rt else None
        )
        if rt is not None:
            active = [t for t in rt.access_tokens if self._access[t].alive(now)]
            while len(active) >= MAX_ACTIVE_ACCESS:
                self._access[active.pop(0)].killed = True
            rt.access_tokens = [*active, at.token]
        self._access[at.token] = at
        return at.token

    def _revoke_refresh(self, rt: _RefreshToken) -> None:
        rt.revoked = True
        for token in rt.access_tokens:
            self._access[token].killed = True

    def _token_answer(self, payload: dict[str, Any], dc: str) -> Response:
        payload = {**payload, "api_domain": self.api_domain(dc), "token_type": "Bearer"}
        if self.legacy_expiry:
            payload["expires_in_sec"] = int(ACCESS_TTL)
            payload["expires_in"] = int(ACCESS_TTL * 1000)
        else:
            payload["expires_in"] = int(ACCESS_TTL)
        override, self._override = self._override, None
        for key, value in (override or {}).items():
            if value is None:
                payload.pop(key, None)
            else:
                payload[key] = value
        return Response.json(payload, 200)

    def _oauth_error(self, error: str) -> Response:
        return Response.json({"error": error}, self.error_status)

    def _throttled(self) -> Response:
        return Response.json(
            {"error": "Access Denied", "error_description": self.throttle_description}, self.error_status
        )

    # ---- CRM ----------------------------------------------------------------------------------
    def _authenticate(self, request: Request, scope_prefixes: tuple[str, ...]) -> _AccessToken | Response:
        """Zoho's checks in order: header present, token alive in this DC, scope covers the URL."""
        header = (request.header("authorization") or "").strip()
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "zoho-oauthtoken" or not token.strip():
            return _crm_error("AUTHENTICATION_FAILURE", "Authentication failed")
        dc = self.dc_of(request.server)
        with self._state:
            at = self._access.get(token.strip())
            if at is None or not at.alive(self.clock()) or at.dc != dc:
                return _crm_error("INVALID_TOKEN", "invalid oauth token")
            prefixes = tuple(p.lower() for p in scope_prefixes)
            if not any(s.lower().startswith(prefixes) for s in _scopes(at.scope)):
                return _crm_error("OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
            return at

    def _crm_org(self, request: Request) -> Response:
        at = self._authenticate(request, ("ZohoCRM.org.",))
        if isinstance(at, Response):
            return at
        with self._state:
            org = self._orgs[at.org_id]
            return Response.json(
                {
                    "org": [
                        {
                            "id": org.org_id,
                            "company_name": org.company_name,
                            "domain_name": f"org{org.org_id}",
                            "primary_email": at.user,
                        }
                    ]
                }
            )

    def _crm_users(self, request: Request) -> Response:
        at = self._authenticate(request, ("ZohoCRM.users.",))
        if isinstance(at, Response):
            return at
        with self._state:
            if request.query.get("type") == "CurrentUser":
                users = [self._users[at.user]]
            else:
                users = [u for u in self._users.values() if u.org_id == at.org_id]
            return Response.json(
                {"users": [{"id": u.user_id, "email": u.email, "full_name": u.full_name} for u in users]}
            )

    def _crm_scoped(self, request: Request, *any_of: str) -> _AccessToken | Response:
        """A valid token of this DC holding one of ``any_of`` (lower case), else Zoho's 401."""
        at = self._authenticate(request, ("ZohoCRM.",))
        if isinstance(at, Response):
            return at
        granted = {s.lower() for s in _scopes(at.scope)}
        if not granted & set(any_of):
            return _crm_error("OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
        return at

    def _crm_fields(self, request: Request) -> Response:
        at = self._crm_scoped(
            request,
            "zohocrm.settings.fields.read",
            "zohocrm.settings.fields.all",
            "zohocrm.settings.read",
            "zohocrm.settings.all",
        )
        return at if isinstance(at, Response) else self.crm.fields(request, at.org_id)

    def _bulk_create(self, request: Request) -> Response:
        # Zoho: ZohoCRM.bulk.read *and* the module's read scope.
        at = self._crm_scoped(request, "zohocrm.bulk.read", "zohocrm.bulk.all")
        if isinstance(at, Response):
            return at
        module = _bulk_module(request)
        if module is not None and not _module_scope(at.scope, module):
            return _crm_error("OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
        return self.crm.create_job(request, at.org_id, at.user)

    def _bulk_job(self, request: Request) -> Response:
        parts = request.path.removeprefix("/crm/bulk/v8/read/").split("/")
        # Zoho: ZohoCRM.bulk.read *or* a module read scope.
        at = self._crm_scoped(
            request, "zohocrm.bulk.read", "zohocrm.bulk.all", "zohocrm.modules.read", "zohocrm.modules.all"
        )
        if isinstance(at, Response):
            return at
        if len(parts) == 1 and parts[0]:
            return self.crm.job_status(parts[0], at.org_id)
        if len(parts) == 2 and parts[1] == "result":
            return self.crm.download(parts[0], at.org_id)
        return crm_error("INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", 404)

    def _crm_module_path(self, request: Request) -> Response:
        parts = request.path.removeprefix("/crm/v8/").split("/")
        if len(parts) != 2 or parts[1] != "deleted":
            return crm_error("INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", 404)
        at = self._authenticate(request, ("ZohoCRM.",))
        if isinstance(at, Response):
            return at
        if not _module_scope(at.scope, parts[0]):
            return _crm_error("OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
        return self.crm.deleted_records(request, at.org_id, parts[0])

    def _crm_modules(self, request: Request) -> Response:
        at = self._authenticate(request, ("ZohoCRM.settings.", "ZohoCRM.modules."))
        if isinstance(at, Response):
            return at
        return Response.json({"modules": [{"api_name": api, "module_name": name} for api, name in _MODULES]})


# ---- helpers ------------------------------------------------------------------------------------
def _crm_error(code: str, message: str) -> Response:
    return Response.json({"code": code, "details": {}, "message": message, "status": "error"}, 401)


def _module_scope(scope: str, module: str) -> bool:
    granted = {s.lower() for s in _scopes(scope)}
    m = module.lower()
    return bool(
        granted
        & {"zohocrm.modules.read", "zohocrm.modules.all", f"zohocrm.modules.{m}.read", f"zohocrm.modules.{m}.all"}
    )


def _bulk_module(request: Request) -> str | None:
    """The module a Bulk Read create names (None for a page-token continuation or a garbled body)."""
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    query = _obj(_obj(body).get("query"))
    module = _obj(query.get("module"))
    name = module.get("api_name")
    return name if isinstance(name, str) else None


def _append_query(url: str, params: list[tuple[str, str]]) -> str:
    """Add parameters to a redirect URI that may already carry a query."""
    separator = "&" if "?" in url else "?"
    return url + separator + urlencode(params)


def _error_page(error: str, message: str) -> Response:
    """Zoho shows an HTML page (no redirect) when the request itself cannot be trusted."""
    return Response.html(
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>Zoho Accounts - Error</title></head>\n'
        f'<body><h1>An error occurred</h1><p class="error" data-error="{html.escape(error)}">'
        f"{html.escape(message)}</p></body></html>\n",
        400,
    )


def _consent_page(client_id: str, scope: str, user: _User, request_id: str) -> str:
    scope_items = "".join(f"<li>{html.escape(s)}</li>" for s in _scopes(scope))

    def form(decision: str, label: str) -> str:
        return (
            f'<form method="post" action="{DECISION_PATH}">'
            f'<input type="hidden" name="request_id" value="{html.escape(request_id)}">'
            f'<input type="hidden" name="decision" value="{decision}">'
            f'<button type="submit" id="{decision}">{label}</button></form>'
        )

    return (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>Zoho Accounts - Authorize</title></head>\n'
        "<body><h1>Authorize application</h1>\n"
        f'<p>The application <code id="client-id">{html.escape(client_id)}</code> would like to access '
        f'the Zoho account <strong id="user">{html.escape(user.email)}</strong> '
        f'(<span id="location">{html.escape(user.dc)}</span>).</p>\n'
        f'<ul id="scopes">{scope_items}</ul>\n'
        f"{form('accept', 'Accept')}\n{form('reject', 'Reject')}\n</body></html>\n"
    )


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    """Just enough HTML parsing to find forms, their hidden fields and their buttons' labels."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._in_button = False
        self._label: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form(a.get("action", ""), a.get("method", "get")))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button":
            self._in_button, self._label = True, []

    def handle_data(self, data: str) -> None:
        if self._in_button:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._in_button:
            self._in_button = False
            if self.forms:
                self.forms[-1].buttons.append("".join(self._label).strip())


def _http_call(method: str, url: str, body: str | None = None) -> tuple[int, dict[str, str], str]:
    """One plain HTTP request that does not follow redirects (the emulator only serves http)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the emulator's browser only speaks plain http, not {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text
    finally:
        conn.close()


def _obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}
