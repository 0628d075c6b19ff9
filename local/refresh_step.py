"""The demo's refresh step: force one refresh cycle and show each connection's expiry before and after.

``make demo`` (``local.demo``) calls :func:`show_refresh_cycle` after the callback has stored a
connection. Tokens are never printed: only whether the access token was replaced.
"""

from __future__ import annotations

from collections.abc import Callable

from zoho_aep.adapters.logs import MASK
from zoho_aep.domain.connection import TAG_EXPIRES_AT
from zoho_aep.domain.times import iso_utc
from zoho_aep.usecases.refresh.cycle import refresh_due_connections
from zoho_aep.usecases.refresh.deps import RefreshDeps
from zoho_aep.usecases.refresh.outcomes import CycleReport


def _expiry(tags: dict[str, str]) -> str:
    raw = tags.get(TAG_EXPIRES_AT, "")
    return iso_utc(int(raw)) if raw.isdigit() else "unknown"


def show_refresh_cycle(deps: RefreshDeps, *, force: bool = True, out: Callable[[str], None] = print) -> CycleReport:
    """Run a refresh cycle (forced by default: a fresh connection is not due yet); print before/after."""
    store = deps.store
    before = {s.name: dict(s.tags) for s in store.list()}
    old_access = {name: (store.require(name).connection.access_token) for name in before}
    report = refresh_due_connections(deps, force=force)
    kind = "forced" if force else "scheduled"
    out(f"Token refresh cycle ({kind}): {report.count('refreshed')} of {report.seen} connection(s) refreshed")
    if report.error is not None:
        out(f"  cycle failed: {report.error.message} [{report.error.code}]")
    for outcome in sorted(report.outcomes, key=lambda o: o.connection):
        tags_after = store.get_tags(outcome.connection)
        replaced = store.require(outcome.connection).connection.access_token != old_access.get(outcome.connection)
        out(
            f"  {outcome.connection}: expires {_expiry(before.get(outcome.connection, {}))}"
            f" -> {_expiry(tags_after)} [{outcome.outcome}{f': {outcome.reason}' if outcome.reason else ''}]"
            f" access_token {MASK} ({'replaced' if replaced else 'unchanged'})"
        )
    return report
