"""One connection's refresh: read, check again, budget, call Zoho, compare-and-swap the value, tag, tell.

The refresh call happens between the read and the write. If a re-authorization lands in between, the
write (which reads afresh, and again each time its compare-and-swap loses) sees another refresh token
and keeps the newer consent's tokens: the access token just minted belongs to the old refresh token
(its mint is still counted). Failures are recorded under the same rule.

Failures map to statuses per ``design.md``:
- consent revoked (``invalid_code``) or client gone (``invalid_client``) -> ``needs-reauth``, an event,
  no more attempts until a new consent resets it;
- throttling -> back off until Zoho's 10-minute window has passed;
- 5xx, timeouts, malformed answers (retried with backoff inside the call) -> ``refresh-failing`` only if
  the token expires before the next attempt, so a passing failure never marks a healthy connection dead.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ...adapters.events import publish_or_log
from ...adapters.secrets import StoredConnection
from ...adapters.zoho.oauth import TokenSet
from ...domain import events as ev
from ...domain.connection import (
    NOT_THE_REFRESHES,
    STATUS_ACTIVE,
    STATUS_NEEDS_REAUTH,
    STATUS_REFRESH_FAILING,
    TAG_EXPIRES_AT,
    TAG_LAST_ERROR,
    TAG_RETRY_AFTER,
    TAG_STATUS,
    Connection,
    ConnectionSummary,
)
from ...domain.credentials import ZohoClientCredentials
from ...domain.errors import (
    ConnectionCorrupt,
    ConnectionNotFound,
    ZohoAepError,
    ZohoClientChanged,
    ZohoClientInvalid,
    ZohoConsentRevoked,
    ZohoResponseInvalid,
    ZohoThrottled,
)
from ...domain.times import iso_utc
from .deps import RefreshDeps
from .outcomes import (
    ERROR,
    FAILED,
    NEEDS_REAUTH,
    NOT_DUE,
    NOT_FOUND,
    REASON_SUPERSEDED,
    REFRESHED,
    SUPERSEDED,
    THROTTLED,
    ConnectionOutcome,
    deferred,
)
from .policy import ZOHO_WINDOW_SECONDS


class ValueSource(Protocol):
    """Where a connection's value comes from when a cycle has already read it (a batch read)."""

    def take(self, name: str) -> StoredConnection | None: ...


class _Deferred(Exception):
    """Too little invocation time was left once a Zoho slot was free: the next cycle takes it."""


@dataclass(frozen=True)
class RefreshRun:
    """What every connection of one run shares: the Zoho client, force, the time left, Zoho's slots."""

    creds: ZohoClientCredentials
    force: bool = False
    time_left: Callable[[], float] | None = None
    zoho_slots: threading.BoundedSemaphore | None = None  # at most this many calls to Zoho at once
    reads: ValueSource | None = None  # values the run has already read (a batch read)

    def out_of_time(self, reserve_seconds: float) -> bool:
        return self.time_left is not None and self.time_left() < reserve_seconds


def refresh_one(deps: RefreshDeps, summary: ConnectionSummary, run: RefreshRun) -> ConnectionOutcome:
    """Refresh one connection, isolated: whatever happens here never stops the others; it is reported."""
    status = summary.tags.get(TAG_STATUS)
    if run.out_of_time(deps.reserve_seconds):
        return deferred(summary.name, status)
    try:
        return ConnectionRefresh(deps, summary, run).run()
    except ConnectionCorrupt as exc:
        # Its value cannot be read, so there is no bookkeeping to write: the tag is what an operator sees.
        with contextlib.suppress(ZohoAepError):  # the outcome is logged and reported either way
            deps.store.set_tags(summary.name, {TAG_LAST_ERROR: exc.code})
        return ConnectionOutcome(summary.name, ERROR, exc.code, status)
    except ZohoAepError as exc:
        return ConnectionOutcome(summary.name, ERROR, exc.code, status)
    except Exception:  # the isolation boundary: a bug on one connection is reported, the cycle goes on
        deps.logger.exception("refresh of one connection failed unexpectedly", extra={"connection": summary.name})
        return ConnectionOutcome(summary.name, ERROR, "internal-error", status)


class ConnectionRefresh:
    """The refresh of one due connection (a small object so each step can be read on its own)."""

    def __init__(self, deps: RefreshDeps, summary: ConnectionSummary, run: RefreshRun) -> None:
        self.deps = deps
        self.refresh_run = run
        self.name = summary.name
        self.listed_tags = summary.tags
        self.prior_status = summary.tags.get(TAG_STATUS)
        self.creds = run.creds
        self.force = run.force
        self.now = deps.clock()

    def run(self) -> ConnectionOutcome:
        reads = self.refresh_run.reads
        stored = (reads.take(self.name) if reads else None) or self.deps.store.get(self.name)
        if stored is None:  # deleted since the listing
            return ConnectionOutcome(self.name, NOT_FOUND)
        value = stored.connection
        expires = value.expires_epoch
        skip = self.deps.policy.hold_back(self.name, value, now=self.now, force=self.force, status=self.prior_status)
        if skip is not None:
            if skip.outcome == NOT_DUE and expires is not None:
                # The tag lagged behind the value: correct it, so the next cycle need not read the value.
                self.deps.store.set_tags(self.name, {TAG_EXPIRES_AT: str(expires)})
            return skip
        # The refresh token identifies the consent: if it changes while we work, a re-authorization
        # landed, and whatever we learnt belongs to the consent it replaced.
        refresh_token = value.refresh_token
        try:
            if not refresh_token:
                raise ConnectionCorrupt(f"Connection {self.name} has no refresh token.")
            accounts_url = self.deps.data_centers.stored(value.data_center, value.accounts_url).accounts_url
            client_id = self._client_id(value)
            tokens = self._mint(accounts_url, client_id, str(value.data_center), refresh_token)
        except _Deferred:
            return deferred(self.name, self.prior_status)
        except (ZohoConsentRevoked, ZohoClientInvalid) as exc:
            return self._needs_reauth(exc, refresh_token, expires)
        except ZohoThrottled as exc:
            return self._failed(exc, refresh_token, expires, retry_after=int(self.now) + ZOHO_WINDOW_SECONDS)
        except ZohoAepError as exc:
            return self._failed(exc, refresh_token, expires, retry_after=None)
        return self._store(tokens, refresh_token, stored)

    # ---- before the call ----------------------------------------------------------------------
    def _client_id(self, value: Connection) -> str:
        if value.client_id and value.client_id != self.creds.client_id:
            # Its refresh token belongs to another client: only a consent to the configured one helps.
            raise ZohoClientChanged(f"Connection {self.name} was authorized for another Zoho client.")
        return self.creds.client_id

    def _mint(self, accounts_url: str, client_id: str, location: str, refresh_token: str) -> TokenSet:
        with self.refresh_run.zoho_slots or contextlib.nullcontext():
            # Waiting for a slot took time: check again that the call and the writes still fit.
            if self.refresh_run.out_of_time(self.deps.reserve_seconds):
                raise _Deferred()
            return self._call_zoho(accounts_url, client_id, location, refresh_token)

    def _call_zoho(self, accounts_url: str, client_id: str, location: str, refresh_token: str) -> TokenSet:
        secret = self.creds.secret_for(location)
        try:
            return self.deps.zoho.refresh(accounts_url, client_id, secret, refresh_token)
        except ZohoResponseInvalid:
            # The HTTP client already retried 5xx and timeouts; an unreadable answer gets one more try.
            self.deps.sleep(self.deps.invalid_answer_backoff)
            return self.deps.zoho.refresh(accounts_url, client_id, secret, refresh_token)

    # ---- after the call -----------------------------------------------------------------------
    def _store(self, tokens: TokenSet, used_refresh_token: str, stored: StoredConnection) -> ConnectionOutcome:
        expires_at = int(self.now + tokens.expires_in)
        seen: dict[str, bool] = {}

        def mutate(current: Connection | None) -> Connection:
            if current is None:
                raise ConnectionNotFound(f"Connection {self.name} was deleted during its refresh.")
            # Zoho counted this mint against the refresh token we used, whatever happens next.
            current.token_mints = [*current.recent_mints(self.now, ZOHO_WINDOW_SECONDS), int(self.now)]
            seen["superseded"] = current.refresh_token != used_refresh_token
            if seen["superseded"]:
                # A re-authorization landed after our read: its tokens are newer; keep them.
                return current
            seen["had_failures"] = bool(current.last_refresh_error or current.refresh_failures)
            current.access_token = tokens.access_token
            current.expires_at = iso_utc(expires_at)
            current.clear_failures()
            return current

        # The swap names the version read before the call: if anything was written since, it is
        # refused and ``mutate`` runs again on a fresh read. Starting from that read saves a call.
        self.deps.store.write(self.name, mutate, read=stored)
        if seen["superseded"]:
            return ConnectionOutcome(self.name, SUPERSEDED, REASON_SUPERSEDED)

        tags = {TAG_EXPIRES_AT: str(expires_at)}
        remove: tuple[str, ...] = (TAG_RETRY_AFTER,)
        status = self.prior_status
        if self.prior_status not in NOT_THE_REFRESHES:
            # provisioning-failed, ingestion-failing and their last-error are provisioning's and the
            # AEP watch's to clear, not ours.
            tags[TAG_STATUS] = status = STATUS_ACTIVE
            remove += (TAG_LAST_ERROR,)
        # Untag only what the listing showed: a healthy connection then costs no UntagResource call.
        # A tag another writer adds after the listing is the race tags always had: they are not
        # compare-and-swapped, the last writer wins (see ``_reauthorized_since``).
        self.deps.store.set_tags(self.name, tags, remove=tuple(k for k in remove if k in self.listed_tags))
        recovered = seen["had_failures"] or self.prior_status in (STATUS_REFRESH_FAILING, STATUS_NEEDS_REAUTH)
        if recovered:
            self._publish(ev.CONNECTION_RECOVERED, {"connection": self.name})
        return ConnectionOutcome(self.name, REFRESHED, None, status, expires_at, recovered=recovered)

    def _bookkeep_failure(self, error: ZohoAepError, used_refresh_token: object, retry_after: int | None) -> bool:
        """Record the failure in the value; False when a re-authorization superseded the attempt."""
        seen: dict[str, bool] = {}

        def mutate(current: Connection | None) -> Connection | None:
            if current is None:
                raise ConnectionNotFound(f"Connection {self.name} was deleted during its refresh.")
            seen["superseded"] = current.refresh_token != used_refresh_token
            if seen["superseded"]:
                return None  # the failure belongs to a refresh token the connection no longer uses
            failures = current.refresh_failures
            repeat = failures > 0 and current.last_refresh_error == error.code
            if repeat and (retry_after is None or current.throttled_until == retry_after):
                # The same failure again: nothing new to record. Writing anyway would add a secret
                # version every cycle, and Secrets Manager caps how many versions a secret may keep.
                return None
            current.refresh_failures = failures + 1
            current.last_refresh_error = error.code
            if retry_after is not None:
                current.throttled_until = retry_after
            return current

        self.deps.store.write(self.name, mutate)
        return not seen["superseded"]

    def _needs_reauth(self, error: ZohoAepError, used_refresh_token: object, expires: int | None) -> ConnectionOutcome:
        if not self._bookkeep_failure(error, used_refresh_token, None):
            return ConnectionOutcome(self.name, SUPERSEDED, REASON_SUPERSEDED)
        self.deps.store.set_tags(
            self.name, {TAG_STATUS: STATUS_NEEDS_REAUTH, TAG_LAST_ERROR: error.code}, remove=(TAG_RETRY_AFTER,)
        )
        if self._reauthorized_since(used_refresh_token):
            return ConnectionOutcome(self.name, SUPERSEDED, REASON_SUPERSEDED)
        if self.prior_status != STATUS_NEEDS_REAUTH:
            self._publish(ev.NEEDS_REAUTHORIZATION, {"connection": self.name, "reason_code": error.code})
        return ConnectionOutcome(self.name, NEEDS_REAUTH, error.code, STATUS_NEEDS_REAUTH, expires)

    def _failed(
        self, error: ZohoAepError, used_refresh_token: object, expires: int | None, *, retry_after: int | None
    ) -> ConnectionOutcome:
        """A failure that a later attempt may fix: never marks a healthy connection dead."""
        outcome = THROTTLED if retry_after is not None else (FAILED if error.retryable else ERROR)
        if not self._bookkeep_failure(error, used_refresh_token, retry_after):
            return ConnectionOutcome(self.name, SUPERSEDED, REASON_SUPERSEDED)
        next_attempt = self.now + self.deps.schedule_minutes * 60
        if retry_after is not None:
            next_attempt = max(next_attempt, retry_after + self.deps.schedule_minutes * 60)
        dies_first = expires is None or expires <= next_attempt
        tags: dict[str, str] = {}
        status = self.prior_status
        if retry_after is not None:
            tags[TAG_RETRY_AFTER] = str(retry_after)
        if status == STATUS_NEEDS_REAUTH:
            pass  # a forced retry of a needs-reauth connection changes nothing until it succeeds
        elif dies_first:
            tags[TAG_STATUS] = status = STATUS_REFRESH_FAILING
            tags[TAG_LAST_ERROR] = error.code
        elif status not in NOT_THE_REFRESHES:
            tags[TAG_LAST_ERROR] = error.code  # the status stays: the token outlives the next attempt
        if tags:
            self.deps.store.set_tags(self.name, tags)
        if status == STATUS_REFRESH_FAILING and self._reauthorized_since(used_refresh_token):
            return ConnectionOutcome(self.name, SUPERSEDED, REASON_SUPERSEDED)
        return ConnectionOutcome(self.name, outcome, error.code, status, expires, retry_after)

    def _reauthorized_since(self, used_refresh_token: object) -> bool:
        """After tagging a connection as broken: did a new consent land meanwhile? Then undo our tags.

        Tags are not compare-and-swapped. The callback writes the value, then the tags; checking the
        value after our tags means either we see its new refresh token here, or its tags come after
        ours. Either way the connection ends up tagged for the newer consent.
        """
        current = self.deps.store.get(self.name)
        if current is None or current.connection.refresh_token == used_refresh_token:
            return False
        tags = {TAG_STATUS: STATUS_ACTIVE}
        expires = current.connection.expires_epoch
        if expires is not None:
            tags[TAG_EXPIRES_AT] = str(expires)
        self.deps.store.set_tags(self.name, tags, remove=(TAG_LAST_ERROR, TAG_RETRY_AFTER))
        return True

    def _publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        # The status and tags are written; the event is the notification. A refused one is logged.
        publish_or_log(self.deps.events, self.deps.logger, detail_type, detail)
