"""What the S3 path's AEP use cases need: the four Platform APIs of a sandbox, the bucket, Zoho."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...adapters.adobe.catalog import CatalogClient
from ...adapters.adobe.dataflows import DataflowClient
from ...adapters.adobe.dataprep import DataPrepClient
from ...adapters.adobe.registry import SchemaRegistryClient
from ...adapters.events import EventPublisher
from ...adapters.s3 import ExportBucket
from ...adapters.secrets import AppSecrets, ConnectionStore
from ...adapters.zoho.crm import ZohoCrmClient
from ...config.settings import Settings
from ..refresh.deps import RefreshDeps


@dataclass
class AepApis:
    """AEP's APIs in one sandbox."""

    flows: DataflowClient
    registry: SchemaRegistryClient
    catalog: CatalogClient
    dataprep: DataPrepClient


@dataclass
class S3SourceDeps:
    settings: Settings
    store: ConnectionStore
    app_secrets: AppSecrets
    refresh: RefreshDeps  # a valid Zoho token for the field metadata (the refresh's own steps)
    crm: ZohoCrmClient
    bucket: ExportBucket
    aep: Callable[[str], AepApis]  # the APIs of one sandbox
    events: EventPublisher
    logger: Any
    clock: Callable[[], float] = time.time
    # Where AEP's S3 source reads the bucket (a regional endpoint; the local sandbox points it at moto).
    service_url: str | None = None
    # Counts what the watch judged (the AepRuns metric: outcome, failed?); None in tests that do not look.
    on_run: Callable[[str, bool], None] | None = None

    @property
    def modules(self) -> tuple[str, ...]:
        return self.settings.export_modules

    @property
    def s3_service_url(self) -> str:
        return self.service_url or f"https://s3.{self.settings.aws_region}.amazonaws.com"
