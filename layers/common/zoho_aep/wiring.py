"""The composition root: builds each use case's real adapters from :class:`Settings` (handlers and CLI use it)."""

from __future__ import annotations

from typing import Any

from .adapters.adobe.flow import FlowServiceClient
from .adapters.adobe.ims import ImsTokenProvider
from .adapters.events import EventBridgePublisher
from .adapters.http import HttpClient, RetryPolicy
from .adapters.secrets import AppSecrets, ConnectionStore
from .adapters.sqs import SqsShardQueues
from .adapters.zoho.oauth import ZohoOAuthClient
from .config.settings import Settings
from .usecases.connect import ConnectDeps
from .usecases.provision import ProvisionDeps
from .usecases.refresh.deps import RefreshDeps
from .usecases.refresh.planner import FanOut

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
