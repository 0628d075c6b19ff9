"""What an export needs: the adapters and the knobs. Tests hand in moto-backed ones, the emulator and fakes."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...adapters.events import EventPublisher
from ...adapters.s3 import ExportBucket
from ...adapters.secrets import ConnectionStore
from ...adapters.sqs import ExportQueue
from ...adapters.zoho.crm import ZohoCrmClient
from ...config import parameters as p
from ..refresh.deps import RefreshDeps


@dataclass
class ExportDeps:
    """The export's adapters. ``refresh`` is how it gets a valid access token (the refresh's own steps)."""

    store: ConnectionStore
    refresh: RefreshDeps
    crm: ZohoCrmClient
    bucket: ExportBucket
    events: EventPublisher
    modules: tuple[str, ...] = tuple(str(p.EXPORT_MODULES.default).split(","))
    aep_source_path: str = str(p.AEP_SOURCE_PATH.default)
    queue: ExportQueue | None = None  # None: every unit runs in this invocation (tests, sandboxes)
    # Makes the Bulk Read callback URL of one run (None: no callback; later ticks and polls pick jobs up).
    callback_url: Callable[[str, str, str], str] | None = None  # (connection, module, run id) -> URL
    logger: Any = field(default_factory=lambda: logging.getLogger("zoho_aep.export"))
    clock: Callable[[], float] = time.time
    workdir: str = field(default_factory=tempfile.gettempdir)
    overlap_seconds: int = int(p.EXPORT_OVERLAP_SECONDS.default)
    schedule_minutes: int = int(p.EXPORT_SCHEDULE_MINUTES.default)
    org_concurrency: int = int(p.EXPORT_ORG_CONCURRENCY.default)
    downloads_per_minute: int = int(p.EXPORT_DOWNLOADS_PER_MINUTE.default)
    # Longer than the function's timeout (900 s): a live run never loses its unit, a crashed one
    # holds it for at most this long.
    lease_seconds: int = 960
    # A page is started only if this much invocation time is left: a 200,000-record download,
    # conversion and upload, with room to spare.
    reserve_seconds: float = 180.0
    max_job_attempts: int = 3  # failed or expired Bulk Read jobs for one page, per run
    poll_seconds: int = 30  # the first look at a new job; doubled per look, at most the queue's 900 s

    @property
    def min_interval_seconds(self) -> int:
        """A new window starts only this long after the last one ended (half the schedule)."""
        return self.schedule_minutes * 30
