"""Use case: complete a Zoho authorization (the callback's redirect, or a self-client code) and store it.

Order matters: everything that can be checked without Zoho is checked first (method, size and shape
of the query are the edge's; here the state, a refusal, the code, the data center, the accounts
server, a reused nonce, a sandbox change), so bad input never causes a token request. After the exchange, any refusal
revokes the refresh token just issued: we will not store it, and Zoho keeps only 20 per user.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..adapters.events import EventPublisher
from ..adapters.logs import register_secret
from ..adapters.secrets import AppSecrets, ConnectionStore
from ..adapters.zoho.oauth import TokenSet, ZohoOAuthClient, ZohoOrg
from ..config.parameters import STATE_KEY_RECHECK_SECONDS
from ..config.settings import Settings
from ..domain import events as ev
from ..domain.connection import (
    MAX_CONNECTIONS_PER_ZOHO_USER,
    STATUS_ACTIVE,
    TAG_DATA_CENTER,
    TAG_EXPIRES_AT,
    TAG_EXPORT_ERROR,
    TAG_EXPORT_STATUS,
    TAG_LAST_ERROR,
    TAG_MANAGED,
    TAG_ORG_ID,
    TAG_ORG_NAME,
    TAG_RETRY_AFTER,
    TAG_SANDBOX,
    TAG_STATUS,
    TAG_USER_ID,
    ZOHO_REFRESH_TOKENS_PER_USER,
    Connection,
    tag_value,
)
from ..domain.credentials import ZohoClientCredentials
from ..domain.datacenters import DataCenter
from ..domain.errors import (
    AccountsServerMismatch,
    AuthorizationRefused,
    CodeMissing,
    ConsentDeclined,
    LinkDataCenterMismatch,
    LinkOrgMismatch,
    SandboxMismatch,
    StateReused,
    StateSignatureInvalid,
    ZohoAepError,
    ZohoOrgMismatch,
    ZohoRefreshTokenMissing,
    ZohoUserTokenLimit,
)
from ..domain.hosts import normalise_origin
from ..domain.links import LinkState, verify_state
from ..domain.names import check_connection_name, check_sandbox_name
from ..domain.times import iso_utc

# Tags a new consent clears: the refresher's failure marks, and the export's consent mark.
CLEARED_BY_CONSENT = (TAG_LAST_ERROR, TAG_RETRY_AFTER, TAG_EXPORT_STATUS, TAG_EXPORT_ERROR)


@dataclass(frozen=True)
class ConnectResult:
    connection: str
    sandbox: str
    data_center: str
    zoho_org_id: str
    zoho_org_name: str
    reauthorized: bool
    event_published: bool = True
    tags_written: bool = True
    zoho_user_id: str | None = None
    user_connections: int = 1  # live connections the consenting Zoho user holds now, this one included


@dataclass
class ConnectDeps:
    settings: Settings
    app_secrets: AppSecrets
    store: ConnectionStore
    zoho: ZohoOAuthClient
    events: EventPublisher
    clock: Callable[[], float] = time.time


def record_consent(
    current: Connection | None,
    *,
    connection: str,
    sandbox: str,
    dc: DataCenter,
    client_id: str,
    tokens: TokenSet,
    org: ZohoOrg,
    now: float,
    user_id: str | None = None,
) -> Connection:
    """The connection secret after a consent, keeping what the other functions wrote."""
    value = current if current is not None else Connection()
    if tokens.refresh_token is None:  # exchange_code never returns one without; kept under python -O
        raise ZohoRefreshTokenMissing("Zoho issued no refresh token.")
    value.take_refresh_token(tokens.refresh_token)
    value.reset_bookkeeping()  # the refresher's failure bookkeeping starts over
    value.connection = connection
    value.data_center = dc.location
    value.accounts_url = dc.accounts_url
    value.api_domain = normalise_origin(tokens.api_domain or dc.default_api_domain)
    value.client_id = client_id
    value.access_token = tokens.access_token
    value.expires_at = iso_utc(now + tokens.expires_in)
    value.scope = tokens.scope or value.scope or ""
    value.zoho_org_id = org.id
    value.zoho_org_name = org.name
    value.zoho_user_id = user_id or value.zoho_user_id
    value.adobe_sandbox = sandbox
    value.authorized_at = iso_utc(now)
    return value


@dataclass(frozen=True)
class Grant:
    """What a consent is for: a connection, its AEP sandbox, and the link's nonce (None for self clients)."""

    connection: str
    sandbox: str
    nonce: str | None = None
    nonce_expires_at: int = 0
    expected_org_id: str | None = None  # the link's --zoho-org-id: any other org is refused

    @classmethod
    def from_state(cls, state: LinkState) -> Grant:
        return cls(state.connection, state.sandbox, state.nonce, state.expires_at, state.zoho_org_id)


def check_existing(current: Connection, grant: Grant, org_id: str | None) -> None:
    if grant.nonce is not None and grant.nonce in current.state_nonces:
        raise StateReused("This connect link was already used.")
    stored_sandbox = current.adobe_sandbox
    if stored_sandbox and stored_sandbox != grant.sandbox:
        raise SandboxMismatch(
            f"Connection {grant.connection} belongs to AEP sandbox {stored_sandbox}; the request names {grant.sandbox}."
        )
    if org_id is not None and current.zoho_org_id and current.zoho_org_id != org_id:
        raise ZohoOrgMismatch(f"Connection {grant.connection} belongs to another Zoho org.")


def complete_authorization(params: Mapping[str, str], deps: ConnectDeps) -> ConnectResult:
    """Validate the redirect, exchange the code, identify the org and store the connection."""
    now = deps.clock()
    token = params.get("state")
    state, key = verified_state(deps, token, now)
    # Only now, with the signature checked, is the state ours to mask. Anything registered earlier
    # would let anonymous requests mask log lines at will or push secrets out of the registry; the
    # grant code is masked by its key and its shape (adapters.logs).
    register_secret(token)

    error = params.get("error")
    if error is not None:
        if error == "access_denied":
            raise ConsentDeclined("The Zoho administrator declined the consent.")
        raise AuthorizationRefused("Zoho refused the authorization request.")
    code = params.get("code")
    if not code:
        raise CodeMissing("Zoho's redirect carried no grant code.")
    dc = deps.settings.data_centers.resolve(params.get("location"))
    accounts_server = params.get("accounts-server")
    if accounts_server is not None and normalise_origin(accounts_server) != dc.accounts_url:
        raise AccountsServerMismatch("The redirect names an accounts server that is not its data center's.")
    if state.data_center is not None and dc.location != state.data_center:
        # Checked before any token request: a code works only at its own data center, so an exchange
        # at the one the redirect names proves it; a redirect naming another is refused outright.
        raise LinkDataCenterMismatch(
            f"This link is for Zoho data center {state.data_center}; the consent came from {dc.location}."
        )
    grant = Grant.from_state(state)
    existing = deps.store.get(state.connection)
    if existing is not None:
        check_existing(existing.connection, grant, None)

    # Rotating the state key kills every open link at once: the key was cached (up to 5 minutes), so
    # it is read again before the exchange, and a link signed with a key rotated out is refused.
    current = deps.app_secrets.state_key(force=True)
    if current != key:
        verify_state(current, token, now)
    # PKCE: the code is honoured only with the verifier of the link that asked for it, so a code
    # minted under another link (its own challenge) cannot be completed with this link's state.
    verifier = state.code_verifier(current)
    register_secret(verifier)
    creds = deps.app_secrets.zoho_client()
    redirect_uri = deps.settings.require_callback_url()
    tokens = deps.zoho.exchange_code(
        dc, creds.client_id, creds.secret_for(dc.location), code, redirect_uri, code_verifier=verifier
    )
    return store_authorization(deps, creds=creds, dc=dc, tokens=tokens, grant=grant, now=now)


def verified_state(deps: ConnectDeps, token: str | None, now: float) -> tuple[LinkState, str]:
    """The link's state and the key it verified under (the cached one, or one rotated in since).

    A signature that fails under the cached key may belong to a link signed after a rotation: the
    key is read again, at most every few seconds, so forged states cannot make every request read it.
    """
    cached = deps.app_secrets.state_key()
    try:
        return verify_state(cached, token, now), cached
    except StateSignatureInvalid:
        fresh = deps.app_secrets.state_key(max_age=STATE_KEY_RECHECK_SECONDS)
        if fresh == cached:
            raise
        return verify_state(fresh, token, now), fresh


def import_self_client(deps: ConnectDeps, *, connection: str, sandbox: str, location: str, code: str) -> ConnectResult:
    """Store a connection from a grant code made with a Zoho *self client* in the API console.

    Such codes are exchanged without ``redirect_uri``; everything after the exchange is exactly what
    the callback does (org lookup, compare-and-swap write, tags, the authorized event).
    """
    register_secret(code)
    grant = Grant(check_connection_name(connection), check_sandbox_name(sandbox))
    dc = deps.settings.data_centers.resolve(location)
    if not code.strip():
        raise CodeMissing("A self-client grant code is needed (--code).")
    existing = deps.store.get(grant.connection)
    if existing is not None:
        check_existing(existing.connection, grant, None)
    creds = deps.app_secrets.zoho_client()
    tokens = deps.zoho.exchange_code(dc, creds.client_id, creds.secret_for(dc.location), code.strip(), None)
    return store_authorization(deps, creds=creds, dc=dc, tokens=tokens, grant=grant, now=deps.clock())


def store_authorization(
    deps: ConnectDeps,
    *,
    creds: ZohoClientCredentials,
    dc: DataCenter,
    tokens: TokenSet,
    grant: Grant,
    now: float,
) -> ConnectResult:
    """After a successful exchange: identify the org, CAS-write the secret, tag it, publish the event.

    Shared by the callback and the self-client import. Any failure revokes the new refresh token.
    """
    if tokens.refresh_token is None:  # exchange_code never returns one without; kept under python -O
        raise ZohoRefreshTokenMissing("Zoho issued no refresh token.")
    try:
        org = deps.zoho.get_org(tokens.api_domain or dc.default_api_domain, tokens.access_token)
        if grant.expected_org_id is not None and org.id != grant.expected_org_id:
            # Not resting on PKCE alone: a link bound to an org takes no other, whoever consents.
            raise LinkOrgMismatch(f"This link is for Zoho org {grant.expected_org_id}; another org consented.")
        user = deps.zoho.get_current_user(tokens.api_domain or dc.default_api_domain, tokens.access_token)
        user_connections = _check_user_tokens(deps, user.id, grant.connection)

        def mutate(current: Connection | None) -> Connection:
            if current is not None:
                check_existing(current, grant, org.id)
            value = record_consent(
                current,
                connection=grant.connection,
                sandbox=grant.sandbox,
                dc=dc,
                client_id=creds.client_id,
                tokens=tokens,
                org=org,
                now=now,
                user_id=user.id,
            )
            # Spent links are remembered until they would have expired anyway.
            nonces = {n: e for n, e in value.state_nonces.items() if e > now}
            if grant.nonce is not None:
                nonces[grant.nonce] = grant.nonce_expires_at
            value.state_nonces = nonces
            return value

        expires_epoch = int(now + tokens.expires_in)
        tags = {
            TAG_STATUS: STATUS_ACTIVE,
            TAG_EXPIRES_AT: str(expires_epoch),
            TAG_DATA_CENTER: dc.location,
            TAG_ORG_ID: org.id,
            TAG_ORG_NAME: tag_value(org.name),
            TAG_USER_ID: user.id,
            TAG_SANDBOX: grant.sandbox,
            TAG_MANAGED: "true",
        }
        result = deps.store.write(grant.connection, mutate, create_tags=tags)
    except Exception:
        # Whatever went wrong (ours, AWS's, or a bug), a new refresh token that is not stored is
        # revoked; one a lost write answer may have stored is kept (see _may_hold).
        if not _may_hold(deps.store, grant.connection, tokens.refresh_token):
            _revoke_quietly(deps.zoho, dc.accounts_url, tokens.refresh_token)
        raise
    tags_written = result.created  # a new secret got its tags when it was created
    if not result.created:
        # The tokens are stored: a failing tag write must not turn that into an error page. It is
        # tried twice, then reported, so the operator can fix the status by hand.
        for _ in range(2):
            try:
                # A new consent may add the scopes an export lacked: its needs-consent mark goes too.
                deps.store.set_tags(grant.connection, tags, remove=CLEARED_BY_CONSENT)
            except ZohoAepError:
                continue
            tags_written = True
            break
    reauthorized = result.previous is not None
    published = True
    try:
        deps.events.publish(
            ev.CONNECTION_AUTHORIZED,
            {
                "connection": grant.connection,
                "data_center": dc.location,
                "zoho_org_id": org.id,
                # The org by name too: a first consent by the wrong admin (another org) is seen at once.
                "zoho_org_name": org.name,
                "reauthorized": reauthorized,
                # Zoho keeps 20 refresh tokens per user and client: how many this user's consents hold.
                "zoho_user_id": user.id,
                "zoho_user_connections": user_connections,
            },
        )
    except ZohoAepError:
        published = False  # the connection is stored; the edge logs it and provisioning can be run by hand
    return ConnectResult(
        connection=grant.connection,
        sandbox=grant.sandbox,
        data_center=dc.location,
        zoho_org_id=org.id,
        zoho_org_name=org.name,
        reauthorized=reauthorized,
        event_published=published,
        tags_written=tags_written,
        zoho_user_id=user.id,
        user_connections=user_connections,
    )


def _check_user_tokens(deps: ConnectDeps, user_id: str, connection: str) -> int:
    """How many live connections the consenting user holds with this one; refuses one past the limit.

    Counted from tags alone (``zoho-aep:zoho-user-id``). A re-consent of the same connection replaces
    its own token (revoked once AEP holds the new one), so it does not count twice.
    """
    others = [
        s for s in deps.store.list(tagged=(TAG_USER_ID, user_id)) if s.name != connection and s.holds_a_live_token
    ]
    held = len(others) + 1
    if held > MAX_CONNECTIONS_PER_ZOHO_USER and not deps.settings.allow_token_eviction:
        raise ZohoUserTokenLimit(
            f"The Zoho user who consented already holds {len(others)} connections of this stack; Zoho keeps "
            f"{ZOHO_REFRESH_TOKENS_PER_USER} refresh tokens per user, and one more would let the user's next "
            "consent silently end the oldest one's. Consent as another Zoho user or disconnect one."
        )
    return held


def _may_hold(store: ConnectionStore, connection: str, refresh_token: str) -> bool:
    """Whether the connection secret holds ``refresh_token`` after a failed write, or may.

    A write whose answer was lost can have landed: revoking a token the secret holds would kill the
    connection, while keeping one that was not stored costs one of Zoho's 20 per user. So a token
    is revoked only when a fresh read shows it is not there.
    """
    try:
        stored = store.get(connection)
    except ZohoAepError:
        return True
    return stored is not None and refresh_token in stored.connection.refresh_tokens


def _revoke_quietly(zoho: ZohoOAuthClient, accounts_url: str, refresh_token: str) -> None:
    # Best effort: the caller's error is the one that matters.
    with contextlib.suppress(ZohoAepError):
        zoho.revoke(accounts_url, refresh_token)
