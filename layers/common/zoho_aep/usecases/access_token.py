"""A valid Zoho access token for one connection, refreshed first when it would expire too soon.

Anything that calls Zoho's CRM API on a connection's behalf (the export) asks here. A token that
lives long enough is returned as stored; otherwise the connection is refreshed with the token
refresh's own per-connection steps (mint budget, compare-and-swap, statuses, events), so a refresh
here and a scheduled cycle never race each other into two mints or a lost write.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.connection import STATUS_NEEDS_REAUTH, TAG_STATUS, Connection, ConnectionSummary
from ..domain.datacenters import DataCenter
from ..domain.errors import (
    ConnectionCorrupt,
    ConnectionNeedsReauth,
    ZohoApiDomainInvalid,
    ZohoMintBudgetExhausted,
    ZohoThrottled,
    error_for,
)
from ..domain.hosts import normalise_origin
from .refresh.connection import RefreshRun, refresh_one
from .refresh.deps import RefreshDeps
from .refresh.outcomes import NOT_DUE, REASON_BACKING_OFF, REASON_BUDGET, REFRESHED, SKIPPED, SUPERSEDED

DEFAULT_MIN_VALIDITY_SECONDS = 900.0


@dataclass(frozen=True)
class AccessGrant:
    """What a CRM call needs: where (the connection's own API host) and with which token."""

    connection: str
    data_center: DataCenter
    api_domain: str
    access_token: str
    expires_at: int
    scope: str | None = None  # what the consent granted, when Zoho said


def valid_access_token(
    deps: RefreshDeps, name: str, *, min_validity: float = DEFAULT_MIN_VALIDITY_SECONDS, force: bool = False
) -> AccessGrant:
    """An access token of ``name`` valid for at least ``min_validity`` seconds, refreshed if needed.

    ``force`` mints a new one whatever the stored one's expiry (Zoho refused it: revoked, or one of
    the 15 a refresh token may have alive was evicted), still within the mint budget.

    Raises the typed error of whatever stands in the way: ``connection-needs-reauth`` (consent to
    re-do), Zoho's refusal (revoked consent is marked ``needs-reauth`` on the way, as the refresh
    does), throttling or the mint budget (retryable), a store or Zoho outage (retryable).
    """
    # Below the refresh-ahead window, so a token this asks to refresh is always due for the policy,
    # and one another writer has just refreshed is never minted again.
    threshold = min(min_validity, deps.window_minutes * 60 - 60)
    stored = deps.store.require(name)
    grant = None if force else _usable(deps, stored.connection, name, threshold)
    if grant is not None:
        return grant
    tags = deps.store.get_tags(name)
    if tags.get(TAG_STATUS) == STATUS_NEEDS_REAUTH:
        raise ConnectionNeedsReauth(f"Zoho refused connection {name}'s tokens; it needs a new consent.")
    creds = deps.app_secrets.zoho_client()
    summary = ConnectionSummary(name, deps.store.secret_name(name), tags)
    outcome = refresh_one(deps, summary, RefreshRun(creds, force=force))
    if outcome.outcome in (REFRESHED, NOT_DUE, SUPERSEDED):
        grant = _usable(deps, deps.store.require(name).connection, name, 0.0)
        if grant is not None:
            return grant
        raise ConnectionCorrupt(f"Connection {name} holds no usable access token after its refresh.")
    if outcome.outcome == SKIPPED and outcome.reason == REASON_BUDGET:
        raise ZohoMintBudgetExhausted(f"Connection {name} used its access-token budget; try again in minutes.")
    if outcome.outcome == SKIPPED and outcome.reason == REASON_BACKING_OFF:
        raise ZohoThrottled(f"Zoho is throttling connection {name}'s refresh token; try again later.")
    raise error_for(outcome.reason or "internal-error", f"Connection {name}'s access token could not be refreshed.")


def _usable(deps: RefreshDeps, value: Connection, name: str, threshold: float) -> AccessGrant | None:
    expires = value.expires_epoch
    if not value.access_token or expires is None or expires - deps.clock() <= threshold:
        return None
    dc = deps.data_centers.stored(value.data_center, value.accounts_url)
    if not value.api_domain or not dc.allows_api_domain(value.api_domain):
        # The access token goes to this host: only ever one of its data center's own.
        raise ZohoApiDomainInvalid(f"Connection {name}'s API host is not one of its data center's.")
    return AccessGrant(name, dc, normalise_origin(value.api_domain), value.access_token, expires, value.scope)
