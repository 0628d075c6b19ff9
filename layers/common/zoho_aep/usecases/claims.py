"""Use case helper: the provisioning claim, one run at a time per connection, whichever AEP path.

A short lease in the connection secret (compare-and-swap), so two deliveries of the same event
cannot both create AEP objects: none of AEP's APIs takes an idempotency key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from ..adapters.secrets import ConnectionStore
from ..domain.connection import Connection, ProvisioningClaim
from ..domain.errors import ConnectionNotFound, ProvisioningInProgress, ZohoAepError

# Longer than the provisioning function's timeout (120 s): a live run never loses its claim, a
# crashed one blocks the next attempt for at most this long.
CLAIM_SECONDS = 150


def claim(store: ConnectionStore, connection: str, clock: Callable[[], float]) -> tuple[str, Connection]:
    """Take the connection's provisioning lease; returns its id and the value it was taken on."""
    claim_id = uuid.uuid4().hex
    now = clock()

    def mutate(current: Connection | None) -> Connection:
        if current is None:
            raise ConnectionNotFound(f"There is no connection named {connection}.")
        held = current.provisioning_claim
        if held is not None and held.until > now:
            raise ProvisioningInProgress(f"Another run is provisioning connection {connection}; it will be retried.")
        current.provisioning_claim = ProvisioningClaim(claim_id, int(now + CLAIM_SECONDS))
        return current

    return claim_id, store.write(connection, mutate).connection


def release(store: ConnectionStore, connection: str, claim_id: str, logger: Any) -> None:
    def mutate(current: Connection | None) -> Connection | None:
        if current is None or current.provisioning_claim is None or current.provisioning_claim.id != claim_id:
            return None
        current.provisioning_claim = None
        return current

    try:
        store.write(connection, mutate)
    except ZohoAepError as exc:
        # The lease expires by itself; the run's outcome matters more than this write.
        logger.warning("could not release the provisioning claim", extra={"reason": exc.code})
