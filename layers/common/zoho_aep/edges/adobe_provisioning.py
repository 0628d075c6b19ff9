"""The ``adobe_provisioning`` function's edge: turn an invocation into one provisioning run and an answer.

Two triggers are accepted: the EventBridge event ``Zoho connection authorized`` (source
``zoho-aep``), and a direct invoke ``{"connection": "acme"}``. Anything else is refused before any
AWS or Adobe call. The answer follows what a retry can do: permanent outcomes (success, bad input,
configuration, a retired source) return normally, so nothing retries them pointlessly; passing
failures raise, so Lambda's asynchronous retries and the on-failure queue take over.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..domain import events as ev
from ..domain.errors import (
    BadRequest,
    ProvisioningEventUnsupported,
    ProvisioningInputInvalid,
    ProvisioningWillRetry,
)
from ..domain.names import check_connection_name
from ..usecases.provision import ProvisionDeps, provision_connection
from .lazy import Lazy


def parse_trigger(event: object) -> str:
    """The connection an invocation names; raises BadRequest for anything but the two triggers."""
    if not isinstance(event, Mapping):
        raise ProvisioningInputInvalid("The invocation must be a JSON object.")
    if "detail-type" in event or "detail" in event:
        if event.get("source") != ev.SOURCE or event.get("detail-type") != ev.CONNECTION_AUTHORIZED:
            raise ProvisioningEventUnsupported(
                f"Only '{ev.CONNECTION_AUTHORIZED}' events from {ev.SOURCE} start provisioning."
            )
        detail = event.get("detail")
        connection = detail.get("connection") if isinstance(detail, Mapping) else None
    else:
        if set(event) != {"connection"}:
            raise ProvisioningInputInvalid('A direct invoke is {"connection": "NAME"}.')
        connection = event["connection"]
    return check_connection_name(connection)


class ProvisioningApp:
    """Runs provisioning for each invocation. ``deps`` is built on first use (bad input needs none)."""

    def __init__(
        self,
        deps: Callable[[], ProvisionDeps],
        *,
        logger: Any,
        on_outcome: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._deps = Lazy(deps)
        self.logger = logger
        self.on_outcome = on_outcome

    @property
    def deps(self) -> ProvisionDeps:
        return self._deps.get()

    def handle(self, event: object) -> dict[str, Any]:
        """Provision the connection ``event`` names; raises ProvisioningWillRetry for passing failures."""
        try:
            connection = parse_trigger(event)
        except BadRequest as exc:
            self.logger.warning("provisioning refused its input", extra={"outcome": exc.code, "error": exc.message})
            self._count(exc.code, failed=True)
            return {"ok": False, "reason_code": exc.code, "retryable": False, "message": exc.message}
        result = provision_connection(self.deps, connection)
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

    def _count(self, outcome: str, *, failed: bool) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome, failed)
