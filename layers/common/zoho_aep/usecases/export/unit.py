"""One unit's export (a connection's one module), advanced step by step; no step waits for Zoho.

A run exports one window of the module:
1. **Start** (under the unit's lease, a compare-and-swap on its state object): read Zoho's field
   metadata, extend the recorded columns (new fields appended; removed ones stay, empty), and fix the
   window: everything modified before now on the first export, else since the last window's end with
   a small overlap (delivery is at least once, never at most once).
2. **Bulk Read**, page by page: create a job (the first with the criteria, the next ones with the
   previous page's token); a job still running ends the step (*pending*: a poll is queued, or Zoho's
   callback, or the next tick looks again). A completed job is downloaded into a file, converted row by
   row to gzip CSV, uploaded to staging and recorded. A failed job, an expired result or a refused
   field is retried for the same page; a throttled download waits a minute. Nothing is exported twice
   as a new window: the window is fixed once the run starts.
3. **Deleted records** since the window's start become tombstones (deltas only).
4. **Publish**: each staged file is copied into the folder AEP reads (so it appears complete, with its
   own last-modified time), then the watermark moves to the window's end, in one write. A crash at
   any point re-runs the same window from the last step recorded; a file already copied is not
   copied again.
The outcome, an event (``Zoho export completed`` / ``Zoho export failed``), the export tags and one log
line end each run; a run that is not over (pending, out of time) ends without an event.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ...adapters.events import publish_or_log
from ...adapters.files import convert_page, write_tombstones
from ...adapters.zoho.crm import JOB_COMPLETED, JOB_FAILURE, JOB_WAITING, ZohoFieldUnsupported
from ...domain import events as ev
from ...domain.connection import TAG_EXPORT_ERROR, TAG_EXPORT_STATUS
from ...domain.errors import (
    ConnectionNeedsReauth,
    ExportInProgress,
    ZohoAepError,
    ZohoBulkJobFailed,
    ZohoBulkResultExpired,
    ZohoClientInvalid,
    ZohoConsentRevoked,
    ZohoDownloadThrottled,
    ZohoScopeMissing,
    ZohoTokenInvalid,
)
from ...domain.export import (
    COMPLETED as LAST_COMPLETED,
)
from ...domain.export import (
    EXPORT_FAILING,
    EXPORT_NEEDS_CONSENT,
    EXPORT_OK,
    ExportRun,
    ExportState,
    ExportUnit,
    LastExport,
    Lease,
    OrgGate,
    StagedFile,
    evolve_columns,
    iso,
    missing_scopes,
    next_window,
    requested_fields,
)
from ...domain.export import (
    FAILED as LAST_FAILED,
)
from ...domain.times import epoch_of
from ..access_token import AccessGrant, valid_access_token
from .deps import ExportDeps
from .outcomes import (
    COMPLETED,
    CONTINUES,
    DEFERRED,
    FAILED,
    IN_PROGRESS,
    NOT_DUE,
    PENDING,
    UnitOutcome,
)

# Failures that only a new consent fixes: the unit stops, the connection's export says so.
NEEDS_CONSENT = (ZohoScopeMissing, ZohoConsentRevoked, ZohoClientInvalid, ConnectionNeedsReauth)
FAILING_AFTER = 3  # consecutive failed runs before a passing failure marks the export failing
THROTTLE_SECONDS = 61  # Zoho: a throttled download is served again after one minute
# New Zoho fields on the S3 path: the export waits this long at most for provisioning to map them,
# looking again every COLUMNS_POLL_SECONDS (provisioning takes seconds; its retries take minutes).
COLUMNS_WAIT_SECONDS = 1800
COLUMNS_POLL_SECONDS = 120


_T = TypeVar("_T")


class _LeaseLost(Exception):
    """Another invocation took the unit over (ours expired): stop without writing anything."""


@dataclass
class _Step:
    """A step ended the run for now (pending, out of time)."""

    outcome: str
    retry_in: int | None = None


def run_unit(
    deps: ExportDeps,
    unit: ExportUnit,
    *,
    full: bool = False,
    force: bool = False,
    time_left: Callable[[], float] | None = None,
) -> UnitOutcome:
    """Advance ``unit``'s export as far as it goes now; never raises for the unit's failure, reports it.

    ``full`` starts a full export (when none is running); ``force`` starts a window even if the last one
    ended a moment ago (a direct invoke).
    """
    owner = uuid.uuid4().hex
    try:
        state = _take_lease(deps, unit, owner)
    except ExportInProgress as exc:
        return UnitOutcome(unit, IN_PROGRESS, exc.code, retryable=True)
    except ZohoAepError as exc:
        return _finish_failure(deps, unit, None, exc)
    run: UnitRun | None = None
    try:
        with _org_slot(deps, unit, owner) as admitted:
            if not admitted:
                return UnitOutcome(unit, DEFERRED, retry_in=60)
            run = UnitRun(deps, unit, owner, state, full=full, force=force, time_left=time_left)
            return run.advance()
    except _LeaseLost:
        return UnitOutcome(unit, IN_PROGRESS, ExportInProgress.code, retryable=True)
    except ZohoAepError as exc:  # the org gate's own storage
        return _finish_failure(deps, unit, None, exc)
    finally:
        if run is None or not run.released:
            _release_lease(deps, unit, owner)


def _take_lease(deps: ExportDeps, unit: ExportUnit, owner: str) -> ExportState:
    now = int(deps.clock())

    def mutate(current: ExportState | None) -> ExportState:
        state = current or ExportState(unit.connection, unit.module)
        if state.leased(now) and state.lease is not None and state.lease.owner != owner:
            raise ExportInProgress(f"Another invocation is exporting {unit}.")
        state.lease = Lease(owner, now + deps.lease_seconds)
        return state

    state = deps.bucket.update_state(unit, mutate)
    assert state is not None  # nosec B101  # mutate never leaves the state as it is
    return state


def _release_lease(deps: ExportDeps, unit: ExportUnit, owner: str) -> None:
    def mutate(current: ExportState | None) -> ExportState | None:
        if current is None or current.lease is None or current.lease.owner != owner:
            return None
        current.lease = None
        return current

    try:
        deps.bucket.update_state(unit, mutate)
    except ZohoAepError as exc:
        # The lease expires by itself; the run's outcome matters more than this write.
        deps.logger.warning("could not release an export lease", extra={"unit": str(unit), "reason": exc.code})


@contextlib.contextmanager
def _org_slot(deps: ExportDeps, unit: ExportUnit, owner: str) -> Iterator[bool]:
    """One of the org's ``org_concurrency`` slots, or False (Zoho limits concurrent calls per org)."""
    now = int(deps.clock())
    admitted = {"yes": False}

    def take(current: OrgGate | None) -> OrgGate | None:
        gate = current or OrgGate(unit.connection)
        gate.leases = {m: lease for m, lease in gate.leases.items() if lease.until > now}
        held = gate.leases.get(unit.module)
        if held is None and len(gate.leases) >= deps.org_concurrency:
            admitted["yes"] = False
            return None
        admitted["yes"] = True
        gate.leases[unit.module] = Lease(owner, now + deps.lease_seconds)
        return gate

    deps.bucket.update_gate(unit.connection, take)
    try:
        yield admitted["yes"]
    finally:
        if admitted["yes"]:

            def leave(current: OrgGate | None) -> OrgGate | None:
                if current is None or unit.module not in current.leases:
                    return None
                if current.leases[unit.module].owner != owner:
                    return None
                del current.leases[unit.module]
                return current

            with contextlib.suppress(ZohoAepError):  # the slot expires by itself
                deps.bucket.update_gate(unit.connection, leave)


class UnitRun:
    """One unit, from its state to the end of what can be done now."""

    def __init__(
        self,
        deps: ExportDeps,
        unit: ExportUnit,
        owner: str,
        state: ExportState,
        *,
        full: bool,
        force: bool,
        time_left: Callable[[], float] | None,
    ) -> None:
        self.deps = deps
        self.unit = unit
        self.owner = owner
        self.state = state
        self.full = full
        self.force = force
        self.time_left = time_left
        self._grant: AccessGrant | None = None
        self._unsaved: set[str] = set()  # state fields changed here, written with the next save
        self.released = False  # the lease went with the last write (nothing left to release)

    # ---- the run ------------------------------------------------------------------------------
    def advance(self) -> UnitOutcome:
        self.announce_last()
        step: _Step | None = None
        try:
            if self.state.run is None:
                if not self._due():
                    return UnitOutcome(self.unit, NOT_DUE, window_end=self.state.watermark)
                step = self._start()
            step = step or self._work()
        except _LeaseLost:
            raise
        except ZohoAepError as exc:
            return _finish_failure(self.deps, self.unit, self, exc)
        except Exception:  # the isolation boundary: a bug in one unit is reported, the others go on
            self.deps.logger.exception("export of one unit failed unexpectedly", extra={"unit": str(self.unit)})
            return _finish_failure(
                self.deps, self.unit, self, ZohoAepError("The export failed unexpectedly.", retryable=True)
            )
        if step is not None:
            if self._unsaved:
                try:
                    self.save()  # what this run did stays done
                except ZohoAepError as exc:
                    return _finish_failure(self.deps, self.unit, self, exc)
            run = self.state.run
            outcome = UnitOutcome(
                self.unit,
                step.outcome,
                records=run.records if run else 0,
                deleted=run.deleted if run else 0,
                files=0,
                window_start=run.window_start if run else None,
                window_end=run.window_end if run else None,
                retry_in=step.retry_in,
            )
            _log(self.deps, outcome)
            return outcome
        return self._complete()

    def _due(self) -> bool:
        last = self.state.last
        if self.full or self.force or last is None or last.outcome != LAST_COMPLETED or last.window_end is None:
            return True
        return self.deps.clock() - last.window_end >= self.deps.min_interval_seconds

    def _start(self) -> _Step | None:
        """Begin a window (its run recorded with the next save); a step when it must wait instead."""
        grant = self._token()
        missing = missing_scopes(grant.scope, self.unit.module)
        if missing:
            raise ZohoScopeMissing(f"The consent lacks {', '.join(missing)}; a new consent is needed.")
        fields = self._zoho(lambda g: self.deps.crm.fields(g.api_domain, g.access_token, self.unit.module))
        columns = evolve_columns(self.state.columns, fields, self.state.skipped)
        added = [c for c in columns if c not in self.state.columns] if self.state.columns else []
        if added and self._aep_lacks(added):
            return _Step(PENDING, retry_in=COLUMNS_POLL_SECONDS)
        if self.state.columns_waiting is not None:
            self.state.columns_waiting = None
            self._unsaved.add("columns_waiting")
        kind, start, end, deleted_since = next_window(
            self.state, now=int(self.deps.clock()), full=self.full, overlap=self.deps.overlap_seconds
        )
        run = ExportRun(
            id=uuid.uuid4().hex,
            kind=kind,
            window_end=end,
            window_start=start,
            deleted_since=deleted_since,
            started_at=int(self.deps.clock()),
            fields=requested_fields(columns, fields, self.state.skipped),
        )
        # Written with the job it creates (one write, not two): a crash before that leaves nothing to
        # resume, and the next run starts the same window again.
        self.state.columns, self.state.run = columns, run
        self._unsaved |= {"columns", "run"}
        return None

    def _aep_lacks(self, added: list[str]) -> bool:
        """True while AEP's mapping lacks new Zoho fields: the export waits (at most
        ``COLUMNS_WAIT_SECONDS``) so their values are not written where AEP ignores them.

        Only on the S3 path, once provisioned (its AEP state names the mapped columns): the first
        look announces ``Zoho export columns changed``, which provisions the additions.
        """
        try:
            aep = self.deps.bucket.read_aep_state(self.unit.connection)
        except ZohoAepError:
            return False  # an unreadable AEP state is provisioning's to report; the export goes on
        if aep is None or self.unit.module not in aep.modules:
            return False
        missing = [c for c in added if c not in aep.modules[self.unit.module].fields]
        if not missing:
            return False
        now = int(self.deps.clock())
        if self.state.columns_waiting is None:
            self.state.columns_waiting = now
            self._unsaved.add("columns_waiting")
            self.deps.logger.info(
                "new Zoho fields: the export waits until AEP maps them",
                extra={"unit": str(self.unit), "fields": missing},
            )
            publish_or_log(
                self.deps.events,
                self.deps.logger,
                ev.EXPORT_COLUMNS_CHANGED,
                {"connection": self.unit.connection, "module": self.unit.module, "added": missing},
            )
            return True
        if now - self.state.columns_waiting < COLUMNS_WAIT_SECONDS:
            return True
        self.deps.logger.warning(
            "AEP has not mapped the new Zoho fields in time; exporting them anyway (provision the connection)",
            extra={"unit": str(self.unit), "fields": missing, "outcome": "aep-columns-unmapped"},
        )
        return False

    def _work(self) -> _Step | None:
        """Do what can be done now; a step that must wait returns it, a finished window returns None."""
        while True:
            run = self.state.run
            assert run is not None  # nosec B101  # started above
            if run.phase == "publish":
                self._publish(run)
                return None
            if self.time_left is not None and self.time_left() < self.deps.reserve_seconds:
                return _Step(CONTINUES, retry_in=0)
            if run.phase == "bulk":
                step = self._bulk_page(run)
                if step is not None:
                    return step
            elif run.phase == "deleted":
                self._deleted_page(run)

    # ---- Bulk Read ----------------------------------------------------------------------------
    def _bulk_page(self, run: ExportRun) -> _Step | None:
        now = int(self.deps.clock())
        if run.not_before is not None and now < run.not_before:
            return _Step(PENDING, retry_in=run.not_before - now)
        if run.job_id is None:
            return self._create_job(run)
        try:
            job = self._zoho(lambda g: self.deps.crm.bulk_read_job(g.api_domain, g.access_token, str(run.job_id)))
        except ZohoBulkResultExpired:
            return self._redo_page(run, "the job is gone")
        if job.state in JOB_WAITING:
            return _Step(PENDING, retry_in=self._poll_delay(run, now))
        if job.state == JOB_FAILURE:
            return self._redo_page(run, job.error_code or "FAILURE")
        if job.state != JOB_COMPLETED:
            return self._redo_page(run, job.state[:40])
        if not self._download_slot(now):
            return _Step(PENDING, retry_in=THROTTLE_SECONDS)
        with self._scratch("zip") as zip_path, self._scratch("csv.gz") as out_path:
            try:
                with open(zip_path, "wb") as sink:
                    self._zoho(lambda g: self.deps.crm.download_result(g.api_domain, g.access_token, job, sink))
            except ZohoDownloadThrottled:
                run.not_before = now + THROTTLE_SECONDS
                self.save(run=run)
                return _Step(PENDING, retry_in=THROTTLE_SECONDS)
            except ZohoBulkResultExpired:
                return self._redo_page(run, "the result expired")
            rows = convert_page(zip_path, self.state.columns, out_path)
            staged = self._stage(run, out_path, rows, 0)
        run.pages += 1
        run.records += rows
        run.job_attempts = 0
        run.not_before = None
        if staged is not None:
            run.staged.append(staged)
        run.job_id = None
        if job.more_records and job.next_page_token:
            run.page_token = job.next_page_token
        else:
            run.page_token = None
            run.phase = "deleted" if run.deleted_since is not None else "publish"
        self.save(run=run)
        return None

    def _create_job(self, run: ExportRun) -> _Step | None:
        callback = (
            self.deps.callback_url(self.unit.connection, self.unit.module, run.id) if self.deps.callback_url else None
        )
        try:
            job_id = self._zoho(
                lambda g: self.deps.crm.create_bulk_read(
                    g.api_domain,
                    g.access_token,
                    module=self.unit.module,
                    fields=run.fields,
                    window_start=run.window_start,
                    window_end=run.window_end,
                    page_token=run.page_token,
                    callback_url=callback,
                )
            )
        except ZohoFieldUnsupported as exc:
            if exc.field is None or exc.field not in run.fields or run.page_token:
                raise
            # Bulk Read will not export this field (its metadata lists it anyway): never ask again.
            self.deps.logger.warning(
                "Bulk Read refused a field; it is left out from now on",
                extra={"unit": str(self.unit), "field": exc.field},
            )
            run.fields = [f for f in run.fields if f != exc.field]
            self.save(run=run, skipped=[*self.state.skipped, exc.field])
            return None  # create again at once, without the field
        run.job_id = job_id
        run.job_at = int(self.deps.clock())
        run.not_before = None
        self.save(run=run)
        return None  # one look at it now (small jobs end in seconds); no waiting beyond that

    def _redo_page(self, run: ExportRun, why: str) -> _Step | None:
        """The page's job failed or its result is gone: the same page again (same criteria or token)."""
        run.job_attempts += 1
        run.job_id = None
        self.save(run=run)
        self.deps.logger.warning(
            "Bulk Read page redone", extra={"unit": str(self.unit), "attempt": run.job_attempts, "cause": why[:60]}
        )
        if run.job_attempts >= self.deps.max_job_attempts:
            raise ZohoBulkJobFailed(f"Zoho's Bulk Read job for {self.unit} kept failing ({why[:40]}).")
        return None

    def _poll_delay(self, run: ExportRun, now: int) -> int:
        waited = max(0, now - run.job_at)
        return int(min(900, max(self.deps.poll_seconds, waited)))

    def _download_slot(self, now: int) -> bool:
        """One of the org's downloads this minute (Zoho refuses an 11th), recorded in the org gate."""
        taken = {"yes": False}

        def take(current: OrgGate | None) -> OrgGate | None:
            gate = current or OrgGate(self.unit.connection)
            recent = gate.recent_downloads(now)
            if len(recent) >= self.deps.downloads_per_minute:
                return None
            gate.downloads = [*recent, now]
            taken["yes"] = True
            return gate

        self.deps.bucket.update_gate(self.unit.connection, take)
        return taken["yes"]

    # ---- deleted records ----------------------------------------------------------------------
    def _deleted_page(self, run: ExportRun) -> None:
        since = run.deleted_since or 0
        records, more = self._zoho(
            lambda g: self.deps.crm.deleted_records(
                g.api_domain, g.access_token, self.unit.module, since=since, page=run.deleted_page + 1
            )
        )
        kept: list[tuple[str, str]] = []
        for record in records:
            at = epoch_of(record.deleted_time)
            if at is not None and since <= at < run.window_end:  # later deletions belong to the next window
                kept.append((record.id, record.deleted_time))
        if kept:
            with self._scratch("csv.gz") as out_path:
                count = write_tombstones(kept, self.state.columns, out_path)
                staged = self._stage(run, out_path, 0, count)
            if staged is not None:
                run.staged.append(staged)
            run.deleted += len(kept)
        run.deleted_page += 1
        if not more:
            # Publishing follows at once and ends in the outcome's write; a crash before that asks for
            # the deleted records again (the same ones: the window's end is past), nothing is lost.
            run.phase = "publish"
            self.state.run = run
            self._unsaved.add("run")
            return
        self.save(run=run)

    # ---- files --------------------------------------------------------------------------------
    def _stage(self, run: ExportRun, path: str, records: int, deleted: int) -> StagedFile | None:
        if records + deleted == 0:
            return None  # AEP refuses empty files, and a header alone carries nothing
        run.seq += 1
        key = self.unit.staging_key(run.id, run.seq)
        self.deps.bucket.upload(key, path)
        return StagedFile(run.seq, key, records, deleted)

    def _publish(self, run: ExportRun) -> None:
        """Copy every staged file into the folder AEP reads (once), then move the watermark."""
        for staged in run.staged:
            final = self.unit.file_key(run.window_end, staged.seq)
            if final in run.files:
                continue
            # Copied already by a run that crashed before it could say so: never overwrite it, AEP
            # would read it again.
            if not self.deps.bucket.exists(final):
                self.deps.bucket.copy(staged.key, final)
            # Not written down file by file: a run that crashes here finds the copies by their names.
            run.files.append(final)
        for staged in run.staged:
            with contextlib.suppress(ZohoAepError):  # staging expires by the bucket's lifecycle anyway
                self.deps.bucket.delete(staged.key)

    @contextlib.contextmanager
    def _scratch(self, suffix: str) -> Iterator[str]:
        handle, path = tempfile.mkstemp(prefix="zoho-export-", suffix=f".{suffix}", dir=self.deps.workdir)
        os.close(handle)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.remove(path)

    # ---- the end ------------------------------------------------------------------------------
    def _complete(self) -> UnitOutcome:
        run = self.state.run
        assert run is not None  # nosec B101  # the publish step ran on it
        last = LastExport(
            outcome=LAST_COMPLETED,
            at=int(self.deps.clock()),
            records=run.records,
            deleted=run.deleted,
            files=len(run.files),
            window_start=run.window_start,
            window_end=run.window_end,
        )
        self.save(run=None, watermark=run.window_end, last=last, failures=0)
        self._unsaved.clear()
        outcome = UnitOutcome(
            self.unit,
            COMPLETED,
            records=run.records,
            deleted=run.deleted,
            files=len(run.files),
            window_start=run.window_start,
            window_end=run.window_end,
        )
        _set_export_tags(self.deps, self.unit, EXPORT_OK, None)
        self.announce_last(release=True)
        _log(self.deps, outcome)
        return outcome

    def announce_last(self, *, release: bool = False) -> None:
        """Publish the last outcome's event if it is not out yet (a crash between the two is made up).

        ``release``: the run is over, and the write that says the event is out gives the lease back too.
        """
        last = self.state.last
        if last is None or last.announced:
            if release:
                self.release()
            return
        if last.outcome == LAST_COMPLETED:
            detail: dict[str, object] = {
                "connection": self.unit.connection,
                "module": self.unit.module,
                "records": last.records,
                "deleted": last.deleted,
                "files": last.files,
                "window_start": iso(last.window_start),
                "window_end": iso(last.window_end),
            }
            kind = ev.EXPORT_COMPLETED
        else:
            detail = {
                "connection": self.unit.connection,
                "module": self.unit.module,
                "reason_code": last.reason_code,
                "retryable": last.retryable,
            }
            kind = ev.EXPORT_FAILED
        if publish_or_log(self.deps.events, self.deps.logger, kind, detail):
            last.announced = True
            if release:
                self.release(last=last)
            else:
                self.save(last=last)
        elif release:
            self.release()

    def release(self, **changes: object) -> None:
        """The last write of a run: ``changes`` and the lease given back (a failure leaves it to expire)."""
        try:
            self.save(lease=None, **changes)
        except (ZohoAepError, _LeaseLost) as exc:
            reason = exc.code if isinstance(exc, ZohoAepError) else "lease-lost"
            self.deps.logger.warning(
                "could not release an export lease", extra={"unit": str(self.unit), "reason": reason}
            )
            return
        self.released = True

    # ---- plumbing -----------------------------------------------------------------------------
    def _token(self, *, force: bool = False) -> AccessGrant:
        if self._grant is None or force:
            self._grant = valid_access_token(self.deps.refresh, self.unit.connection, force=force)
        return self._grant

    def _zoho(self, call: Callable[[AccessGrant], _T]) -> _T:
        """A CRM call with a valid token; a refused token is refreshed once (it may have been evicted)."""
        try:
            return call(self._token())
        except ZohoTokenInvalid:
            return call(self._token(force=True))

    def save(self, **changes: object) -> None:
        """Write our view of the state (compare-and-swap), only while we still hold the unit."""
        mine = self.state
        changes = {**{name: getattr(mine, name) for name in self._unsaved}, **changes}

        def mutate(current: ExportState | None) -> ExportState:
            if current is None or current.lease is None or current.lease.owner != self.owner:
                raise _LeaseLost()
            for name, value in changes.items():
                setattr(current, name, value)
            return current

        saved = self.deps.bucket.update_state(self.unit, mutate)
        assert saved is not None  # nosec B101  # mutate never leaves the state as it is
        for name, value in changes.items():
            setattr(mine, name, value)
        self._unsaved.clear()


def _finish_failure(deps: ExportDeps, unit: ExportUnit, run: UnitRun | None, exc: ZohoAepError) -> UnitOutcome:
    """Record, tag, announce and log a failed run; the window (if any) stays for the next attempt."""
    consent = isinstance(exc, NEEDS_CONSENT)
    retryable = exc.retryable and not consent
    state = run.state if run is not None else None
    failures = (state.failures if state else 0) + 1
    window = state.run if state else None
    if run is not None:
        last = LastExport(
            outcome=LAST_FAILED,
            at=int(deps.clock()),
            window_start=window.window_start if window else None,
            window_end=window.window_end if window else None,
            reason_code=exc.code,
            retryable=retryable,
        )
        try:
            run.save(last=last, failures=failures)
        except (ZohoAepError, _LeaseLost):
            run.state.last = last  # announced below all the same
        run.announce_last()
    else:
        publish_or_log(
            deps.events,
            deps.logger,
            ev.EXPORT_FAILED,
            {"connection": unit.connection, "module": unit.module, "reason_code": exc.code, "retryable": retryable},
        )
    status = (
        EXPORT_NEEDS_CONSENT if consent else (EXPORT_FAILING if failures >= FAILING_AFTER or not retryable else None)
    )
    _set_export_tags(deps, unit, status, exc.code)
    outcome = UnitOutcome(
        unit,
        FAILED,
        exc.code,
        retryable=retryable,
        window_start=window.window_start if window else None,
        window_end=window.window_end if window else None,
        retry_in=min(900, 60 * 2 ** min(failures, 4)) if retryable else None,
    )
    _log(deps, outcome, error=exc.message)
    return outcome


def _set_export_tags(deps: ExportDeps, unit: ExportUnit, status: str | None, error: str | None) -> None:
    tags = {TAG_EXPORT_ERROR: error} if error else {}
    if status is not None:
        tags[TAG_EXPORT_STATUS] = status
    try:
        deps.store.set_tags(unit.connection, tags, remove=() if error else (TAG_EXPORT_ERROR,))
    except ZohoAepError as exc:
        deps.logger.warning(
            "could not tag the connection's export status", extra={"unit": str(unit), "reason": exc.code}
        )


def _log(deps: ExportDeps, outcome: UnitOutcome, error: str | None = None) -> None:
    fields = outcome.as_dict()
    fields["zoho_module"] = fields.pop("module")  # "module" is a reserved LogRecord attribute
    if error:
        fields["error"] = error
    if outcome.outcome == FAILED:
        log = deps.logger.error if not outcome.retryable else deps.logger.warning
    else:
        log = deps.logger.info
    log("export outcome", extra=fields)
