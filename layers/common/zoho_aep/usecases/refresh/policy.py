"""When a connection is due for a refresh, and when it must wait: the one rule, on tags and on the value.

A cycle first decides from tags alone (a connection that is not due costs no read of its secret),
then checks again on the value it read (another writer may have refreshed it meanwhile). Both
checks are :class:`DuePolicy`'s, so the rule cannot drift between them.

Zoho lets one refresh token mint 10 access tokens per 10 minutes, and AEP refreshes the same token on
its own. So a connection mints at most once per cycle and never more than :data:`MINT_BUDGET` times per
:data:`ZOHO_WINDOW_SECONDS`; the mint times are kept in the secret value (``token_mints``) so the budget
holds whatever triggers arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ...domain.connection import (
    STATUS_NEEDS_REAUTH,
    TAG_EXPIRES_AT,
    TAG_RETRY_AFTER,
    TAG_STATUS,
    Connection,
    ConnectionSummary,
    int_tag,
)
from .outcomes import (
    NOT_DUE,
    NOT_FOUND,
    REASON_BACKING_OFF,
    REASON_BUDGET,
    REASON_NEEDS_REAUTH,
    SKIPPED,
    ConnectionOutcome,
)

ZOHO_WINDOW_SECONDS = 600  # Zoho's rate-limit window: 10 access tokens per refresh token per 10 minutes
MINT_BUDGET = 5  # ours per window: half of Zoho's limit, AEP refreshes the same refresh token too


@dataclass
class Selection:
    """A cycle's choice: the due connections, the ones skipped (with why), how many were not due."""

    due: list[ConnectionSummary] = field(default_factory=list)
    skipped: list[ConnectionOutcome] = field(default_factory=list)
    not_due: int = 0
    seen: int = 0


@dataclass(frozen=True)
class DuePolicy:
    """The refresh-ahead window, and the rules that use it."""

    window_seconds: float

    def expiring(self, expires: int | None, now: float, *, force: bool = False) -> bool:
        """Due: forced, no known expiry, or an access token that expires within the window."""
        return force or expires is None or expires - now <= self.window_seconds

    def select(
        self,
        summaries: Iterable[ConnectionSummary],
        *,
        now: float,
        force: bool = False,
        names: Iterable[str] | None = None,
    ) -> Selection:
        """Pick the connections to refresh from their tags alone (no secret value is read).

        Never due: ``needs-reauth`` (unless forced *and* named: an operator retrying after fixing a
        client secret), and connections inside a throttling back-off (forced or not: Zoho would
        refuse anyway). Named connections that do not exist are reported ``not-found``.
        """
        wanted = list(dict.fromkeys(names)) if names is not None else None
        wanted_set = set(wanted or ())
        selection = Selection()
        found: set[str] = set()
        for summary in summaries:
            if wanted is not None and summary.name not in wanted_set:
                continue
            found.add(summary.name)
            selection.seen += 1
            tags = summary.tags
            retry_after = int_tag(tags, TAG_RETRY_AFTER)
            expires = int_tag(tags, TAG_EXPIRES_AT)
            status = tags.get(TAG_STATUS)
            if status == STATUS_NEEDS_REAUTH and not (force and wanted is not None):
                selection.skipped.append(
                    ConnectionOutcome(summary.name, SKIPPED, REASON_NEEDS_REAUTH, status, expires_at=expires)
                )
            elif retry_after is not None and now < retry_after:
                selection.skipped.append(
                    ConnectionOutcome(summary.name, SKIPPED, REASON_BACKING_OFF, status, expires, retry_after)
                )
            elif self.expiring(expires, now, force=force):
                selection.due.append(summary)
            else:
                selection.not_due += 1
                if wanted is not None:
                    selection.skipped.append(ConnectionOutcome(summary.name, NOT_DUE, None, status, expires))
        for name in wanted or ():
            if name not in found:
                selection.skipped.append(ConnectionOutcome(name, NOT_FOUND))
        return selection

    def hold_back(
        self, name: str, value: Connection, *, now: float, force: bool, status: str | None
    ) -> ConnectionOutcome | None:
        """After the read: why not to call Zoho now (None: call it).

        Not due any more (another writer refreshed it since the listing), inside a throttling
        back-off, or out of mint budget.
        """
        expires = value.expires_epoch
        if not self.expiring(expires, now, force=force):
            return ConnectionOutcome(name, NOT_DUE, None, status, expires)
        if value.throttled_until is not None and now < value.throttled_until:
            return ConnectionOutcome(name, SKIPPED, REASON_BACKING_OFF, status, expires, int(value.throttled_until))
        if len(value.recent_mints(now, ZOHO_WINDOW_SECONDS)) >= MINT_BUDGET:
            return ConnectionOutcome(name, SKIPPED, REASON_BUDGET, status, expires)
        return None
