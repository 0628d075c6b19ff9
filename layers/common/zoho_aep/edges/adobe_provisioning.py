"""The ``adobe_provisioning`` function's edge: turn an invocation into one provisioning run and an answer.

Provisioning starts on the EventBridge events ``Zoho connection authorized`` and ``Zoho export
columns changed`` (source ``zoho-aep``), and on a direct invoke ``{"connection": "acme"}`` or
``{"connection": "acme", "path": "amazon-s3"}`` (move it to that path). The schedule's
``{"watch": "dataflow-runs"}`` looks at the S3 path's dataflow runs instead. Anything else is refused
before any AWS or Adobe call. The answer follows what a retry can do: permanent outcomes (success, bad input,
configuration, a retired source) return normally, so nothing retries them pointlessly; passing
failures raise, so Lambda's asynchronous retries and the on-failure queue take over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..domain import events as ev
from ..domain.errors import (
    AepPathUnavailable,
    BadRequest,
    ProvisioningEventUnsupported,
    ProvisioningInputInvalid,
    ProvisioningWillRetry,
)
from ..domain.names import check_connection_name
from ..usecases.aep_path import PATHS, PathDeps, provision_along
from ..usecases.s3_source.watch import watch_runs
from .lazy import Lazy

TRIGGERS = (ev.CONNECTION_AUTHORIZED, ev.EXPORT_COLUMNS_CHANGED)
WATCH_EVENT = {"watch": "dataflow-runs"}  # the AepWatchMinutes schedule's input


def is_watch(event: object) -> bool:
    return isinstance(event, Mapping) and dict(event) == WATCH_EVENT


def parse_trigger(event: object) -> tuple[str, str | None]:
    """(connection, requested path) an invocation names; raises BadRequest for anything but the triggers."""
    if not isinstance(event, Mapping):
        raise ProvisioningInputInvalid("The invocation must be a JSON object.")
    path = None
    if "detail-type" in event or "detail" in event:
        if event.get("source") != ev.SOURCE or event.get("detail-type") not in TRIGGERS:
            raise ProvisioningEventUnsupported(
                f"Only {' and '.join(repr(t) for t in TRIGGERS)} events from {ev.SOURCE} start provisioning."
            )
        detail = event.get("detail")
        connection = detail.get("connection") if isinstance(detail, Mapping) else None
    else:
        if "connection" not in event or not set(event) <= {"connection", "path"}:
            raise ProvisioningInputInvalid('A direct invoke is {"connection": "NAME"} (and optionally "path").')
        connection = event["connection"]
        if "path" in event:
            if event["path"] not in PATHS:
                raise ProvisioningInputInvalid(f"path must be one of {', '.join(PATHS)}.")
            path = str(event["path"])
    return check_connection_name(connection), path


class ProvisioningApp:
    """Runs provisioning for each invocation. ``deps`` is built on first use (bad input needs none)."""

    def __init__(
        self,
        deps: Callable[[], PathDeps],
        *,
        logger: Any,
        on_outcome: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._deps = Lazy(deps)
        self.logger = logger
        self.on_outcome = on_outcome

    @property
    def deps(self) -> PathDeps:
        return self._deps.get()

    def handle(self, event: object) -> dict[str, Any]:
        """Provision the connection ``event`` names; raises ProvisioningWillRetry for passing failures."""
        if is_watch(event):
            return self.watch()
        try:
            connection, path = parse_trigger(event)
        except BadRequest as exc:
            self.logger.warning("provisioning refused its input", extra={"outcome": exc.code, "error": exc.message})
            self._count(exc.code, failed=True)
            return {"ok": False, "reason_code": exc.code, "retryable": False, "message": exc.message}
        result = provision_along(self.deps, connection, path)
        # Alarms count only failures no retry will fix; passing ones are retried (and alarm via the DLQ).
        self._count(
            "provisioned" if result.ok else result.reason_code or "failed",
            failed=not result.ok and not result.retryable,
        )
        if result.retryable:
            raise ProvisioningWillRetry(
                f"Provisioning connection {connection} failed for a passing reason ({result.reason_code}).",
                code=result.reason_code,
            )
        return result.as_dict()

    def watch(self) -> dict[str, Any]:
        """One look at the S3 path's dataflow runs (the schedule runs it again; nothing to retry)."""
        if self.deps.s3 is None:
            exc = AepPathUnavailable("The S3 path is not deployed here: EXPORT_BUCKET is not set.")
            self.logger.warning("the watch has nothing to look at", extra={"outcome": exc.code})
            return {"ok": False, "reason_code": exc.code, "retryable": False, "message": exc.message}
        return watch_runs(self.deps.s3()).as_dict()

    def _count(self, outcome: str, *, failed: bool) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome, failed)
