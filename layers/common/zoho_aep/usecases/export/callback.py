"""Use case: Zoho says a Bulk Read job ended; if this stack signed the callback URL, look at the unit at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...adapters.sqs import ExportQueue
from ...domain.callbacks import verify_callback
from ...domain.export import ExportUnit
from .messages import UnitMessage


@dataclass
class BulkCallbackDeps:
    state_key: Callable[[], str]
    queue: Callable[[], ExportQueue]
    clock: Callable[[], float]


def accept_bulk_callback(deps: BulkCallbackDeps, token: str | None) -> ExportUnit:
    """Queue the unit the signed token names (BulkCallbackInvalid for anything this stack did not sign).

    Nothing else is trusted or done: the unit's run reads the job from Zoho before it downloads.
    """
    unit = verify_callback(deps.state_key(), token, deps.clock()).unit
    deps.queue().send([UnitMessage(unit).to_message()])
    return unit
