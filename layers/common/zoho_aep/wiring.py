"""The composition root: builds each use case's real adapters from :class:`Settings` (handlers and CLI use it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .adapters.adobe.catalog import CatalogClient
from .adapters.adobe.dataflows import DataflowClient
from .adapters.adobe.dataprep import DataPrepClient
from .adapters.adobe.flow import FlowServiceClient
from .adapters.adobe.ims import ImsTokenProvider
from .adapters.adobe.registry import SchemaRegistryClient
from .adapters.events import EventBridgePublisher
from .adapters.http import HttpClient, RetryPolicy
from .adapters.iam import ReaderUserKeys
from .adapters.s3 import ExportBucket
from .adapters.secrets import READER_SECRET, AppSecrets, ConnectionStore, RotatingSecret
from .adapters.sqs import ExportQueue, SqsShardQueues
from .adapters.zoho.crm import ZohoCrmClient
from .adapters.zoho.oauth import ZohoOAuthClient
from .config.settings import Settings
from .domain.callbacks import callback_url
from .domain.errors import ExportNotConfigured
from .domain.export import ExportUnit
from .usecases.aep_path import PathDeps
from .usecases.connect import ConnectDeps
from .usecases.export.callback import BulkCallbackDeps
from .usecases.export.deps import ExportDeps
from .usecases.provision import ProvisionDeps
from .usecases.reader_key import RotationDeps
from .usecases.refresh.deps import RefreshDeps
from .usecases.refresh.planner import FanOut
from .usecases.s3_source.deps import AepApis, S3SourceDeps

# The callback answers a person through API Gateway, which gives up after 29 s: each Zoho call gets
# at most three short attempts within 9 s, so exchange + org lookup + a revoke fit comfortably.
CALLBACK_POLICY = RetryPolicy(attempts=3, connect_timeout=2.0, read_timeout=4.0, deadline=9.0)
# The refresh runs unattended in a 5-minute function: each Zoho call gets three attempts with a longer
# read timeout and backoff, all within 30 s, so one slow connection cannot starve the others.
REFRESH_POLICY = RetryPolicy(
    attempts=3, connect_timeout=3.05, read_timeout=10.0, deadline=30.0, backoff_base=0.5, backoff_cap=4.0
)
# Provisioning runs in the background (120 s timeout): Adobe gets four attempts per call, 429s
# included, honouring a Retry-After of up to 20 s; a longer one ends the run for a later retry.
ADOBE_POLICY = RetryPolicy(
    attempts=4,
    retry_statuses=frozenset({429, 500, 502, 503, 504}),
    connect_timeout=3.05,
    read_timeout=15.0,
    deadline=40.0,
    backoff_base=0.5,
    backoff_cap=8.0,
    honour_retry_after=True,
    retry_after_cap=20.0,
)


# The export runs in the background (900 s): Zoho's CRM gets three attempts with long reads (a result
# download streams for as long as it takes; each read may wait 60 s).
EXPORT_POLICY = RetryPolicy(
    attempts=3, connect_timeout=3.05, read_timeout=60.0, deadline=180.0, backoff_base=1.0, backoff_cap=8.0
)


def zoho_client(policy: RetryPolicy = CALLBACK_POLICY) -> ZohoOAuthClient:
    return ZohoOAuthClient(HttpClient(policy))


def app_secrets(settings: Settings) -> AppSecrets:
    return AppSecrets(settings.secret_prefix)


def connection_store(settings: Settings) -> ConnectionStore:
    return ConnectionStore(settings.secret_prefix, kms_key_id=settings.kms_key_id)


def connect_deps(settings: Settings) -> ConnectDeps:
    return ConnectDeps(
        settings=settings,
        app_secrets=app_secrets(settings),
        store=connection_store(settings),
        zoho=zoho_client(),
        events=EventBridgePublisher(settings.event_bus_name),
    )


def refresh_fanout(settings: Settings) -> FanOut | None:
    """The planner sends shards and reads results; a worker (no shard queue) only answers results."""
    if not settings.refresh_result_queue_url:
        return None
    queues = SqsShardQueues(settings.refresh_shard_queue_url, settings.refresh_result_queue_url)
    return FanOut(queues, shard_size=settings.refresh_shard_size, can_plan=settings.refresh_shard_queue_url is not None)


def refresh_deps(settings: Settings, *, logger: Any) -> RefreshDeps:
    return RefreshDeps(
        store=connection_store(settings),
        app_secrets=app_secrets(settings),
        zoho=zoho_client(REFRESH_POLICY),
        events=EventBridgePublisher(settings.event_bus_name),
        data_centers=settings.data_centers,
        logger=logger,
        window_minutes=settings.refresh_window_minutes,
        concurrency=settings.refresh_concurrency,
        schedule_minutes=settings.schedule_minutes,
        fanout=refresh_fanout(settings),
    )


def provision_deps(settings: Settings, logger: Any) -> ProvisionDeps:
    """Provisioning's adapters. One IMS provider per process: its token is reused while it is valid."""
    secrets = app_secrets(settings)
    adobe_http = HttpClient(ADOBE_POLICY)
    ims = ImsTokenProvider(adobe_http, settings.adobe_ims_url, secrets.adobe)

    def flow(sandbox: str) -> FlowServiceClient:
        return FlowServiceClient(adobe_http, settings.adobe_platform_url, ims, secrets.adobe, sandbox)

    return ProvisionDeps(
        settings=settings,
        app_secrets=secrets,
        store=connection_store(settings),
        zoho=zoho_client(),
        flow=flow,
        events=EventBridgePublisher(settings.event_bus_name),
        logger=logger,
    )


def s3_source_deps(
    settings: Settings,
    logger: Any,
    native: ProvisionDeps | None = None,
    on_run: Callable[[str, bool], None] | None = None,
) -> S3SourceDeps:
    """The S3 path's AEP side: the four Platform APIs per sandbox, the export bucket, Zoho's fields."""
    if not settings.export_bucket:
        raise ExportNotConfigured("EXPORT_BUCKET: not set; the S3 path needs the stack's export bucket")
    native = native or provision_deps(settings, logger)
    adobe_http = HttpClient(ADOBE_POLICY)
    ims = ImsTokenProvider(adobe_http, settings.adobe_ims_url, native.app_secrets.adobe)

    def aep(sandbox: str) -> AepApis:
        parts = (adobe_http, settings.adobe_platform_url, ims, native.app_secrets.adobe, sandbox)
        return AepApis(
            DataflowClient(*parts), SchemaRegistryClient(*parts), CatalogClient(*parts), DataPrepClient(*parts)
        )

    refresh = refresh_deps(settings, logger=logger)
    refresh.fanout = None  # a token refresh here is one connection's, in this invocation
    return S3SourceDeps(
        settings=settings,
        store=native.store,
        app_secrets=native.app_secrets,
        refresh=refresh,
        crm=ZohoCrmClient(HttpClient(REFRESH_POLICY)),
        bucket=ExportBucket(settings.export_bucket),
        aep=aep,
        events=native.events,
        logger=logger,
        service_url=settings.aep_s3_service_url,
        on_run=on_run,
    )


def path_deps(settings: Settings, logger: Any, on_run: Callable[[str, bool], None] | None = None) -> PathDeps:
    """Provisioning along either path; the S3 path's adapters only where the stack has its bucket."""
    native = provision_deps(settings, logger)
    if not settings.export_bucket:
        return PathDeps(native)
    built: list[S3SourceDeps] = []

    def s3() -> S3SourceDeps:
        if not built:
            built.append(s3_source_deps(settings, logger, native, on_run))
        return built[0]

    return PathDeps(native, s3)


def export_deps(settings: Settings, logger: Any) -> ExportDeps:
    """The export's adapters: its own token accessor (the refresh's steps), the CRM client, the bucket."""
    if not settings.export_bucket:
        raise ExportNotConfigured("EXPORT_BUCKET: not set; it is the stack's export bucket")
    secrets = app_secrets(settings)
    refresh = refresh_deps(settings, logger=logger)
    refresh.fanout = None  # the export refreshes one connection at a time, in this invocation
    base = settings.export_callback_url

    def callback(connection: str, module: str, run_id: str) -> str:
        assert base is not None  # nosec B101  # only made when a base is configured
        return callback_url(base, secrets.state_key(), ExportUnit(connection, module), run_id, time.time())

    return ExportDeps(
        store=refresh.store,
        refresh=refresh,
        crm=ZohoCrmClient(HttpClient(EXPORT_POLICY)),
        bucket=ExportBucket(settings.export_bucket),
        events=refresh.events,
        modules=settings.export_modules,
        aep_source_path=settings.aep_source_path,
        queue=ExportQueue(settings.export_queue_url) if settings.export_queue_url else None,
        callback_url=callback if base else None,
        logger=logger,
        overlap_seconds=settings.export_overlap_seconds,
        schedule_minutes=settings.export_schedule_minutes,
        org_concurrency=settings.export_org_concurrency,
        downloads_per_minute=settings.export_downloads_per_minute,
    )


def bulk_callback_deps(settings: Settings) -> BulkCallbackDeps:
    """Zoho's Bulk Read callback: the state key checks it, the unit queue takes what it names."""
    secrets = app_secrets(settings)

    def queue() -> ExportQueue:
        if not settings.export_queue_url:
            raise ExportNotConfigured("EXPORT_QUEUE_URL: not set; callbacks have nowhere to go")
        return ExportQueue(settings.export_queue_url)

    return BulkCallbackDeps(secrets.state_key, queue, time.time)


def reader_secret_name(settings: Settings) -> str:
    """``{prefix}/aep-s3-reader``: the one secret the reader's rotation function rotates."""
    return f"{settings.secret_prefix}/{READER_SECRET}"


def reader_rotation_deps(settings: Settings, logger: Any, on_failure: Any = None) -> RotationDeps:
    """The reader key's rotation: the reader user's keys, its secret, the AEP states, Flow Service per sandbox."""
    if not settings.export_bucket:
        raise ExportNotConfigured("EXPORT_BUCKET: not set; the reader reads the stack's export bucket")
    if not settings.aep_reader_user:
        raise ExportNotConfigured("AEP_READER_USER: not set; it is the IAM user whose key AEP holds")
    secrets = app_secrets(settings)
    adobe_http = HttpClient(ADOBE_POLICY)
    ims = ImsTokenProvider(adobe_http, settings.adobe_ims_url, secrets.adobe)

    def flows(sandbox: str) -> FlowServiceClient:
        return FlowServiceClient(adobe_http, settings.adobe_platform_url, ims, secrets.adobe, sandbox)

    return RotationDeps(
        secret=RotatingSecret(),
        user=ReaderUserKeys(settings.aep_reader_user),
        states=ExportBucket(settings.export_bucket),
        flows=flows,
        bucket=settings.export_bucket,
        service_url=settings.aep_s3_service_url or f"https://s3.{settings.aws_region}.amazonaws.com",
        events=EventBridgePublisher(settings.event_bus_name),
        logger=logger,
        on_failure=on_failure,
    )
