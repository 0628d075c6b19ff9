"""What a refresh needs: the adapters and the knobs. Tests hand in moto-backed stores, emulators and fakes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...adapters.events import EventPublisher
from ...adapters.secrets import AppSecrets, ConnectionStore
from ...adapters.zoho.oauth import ZohoOAuthClient
from ...config import parameters as p
from ...domain.datacenters import DataCenterTable
from .planner import FanOut
from .policy import DuePolicy

# Threads per Zoho call in flight: while ``concurrency`` threads wait on Zoho, as many again read and
# write Secrets Manager for other connections, so Zoho's slots never wait on AWS round trips.
THREADS_PER_ZOHO_SLOT = 2


@dataclass
class RefreshDeps:
    """What a cycle (or one connection's refresh) needs."""

    store: ConnectionStore
    app_secrets: AppSecrets
    zoho: ZohoOAuthClient
    events: EventPublisher
    data_centers: DataCenterTable
    logger: Any = field(default_factory=lambda: logging.getLogger("zoho_aep.refresh"))
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    window_minutes: int = int(p.REFRESH_WINDOW_MINUTES.default)
    concurrency: int = int(p.REFRESH_CONCURRENCY.default)
    schedule_minutes: int = int(p.REFRESH_SCHEDULE_MINUTES.default)
    # A connection is started only if this much invocation time is left: two refresh calls (30 s
    # deadline each under the refresh RetryPolicy, the second after an unreadable answer) and the writes.
    reserve_seconds: float = 75.0
    # Pause before the one extra attempt after an answer we could not read (e.g. a proxy's HTML page).
    invalid_answer_backoff: float = 1.0
    # When set, a cycle with more due connections than one invocation should take is sent out in
    # shards to worker invocations (see ``planner``); None refreshes everything in this invocation.
    fanout: FanOut | None = None

    @property
    def policy(self) -> DuePolicy:
        return DuePolicy(self.window_minutes * 60)
