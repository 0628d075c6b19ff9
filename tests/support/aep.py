"""Provisioning test bench: the Adobe emulator, the Zoho emulator and moto, wired like production.

Fixtures are named ``*_fixture`` and exposed under their short names, so a test module imports them
(``from tests.support.aep import adobe_fixture, bench_fixture  # noqa: F401``) without shadowing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.emulators.adobe import FLOW_PREFIX, AdobeEmulator
from local.emulators.base import Request
from local.emulators.zoho import ZohoEmulator
from tests.support.constants import CLIENT_ID, PREFIX
from tests.support.fakes import FakeClock, ListHandler
from zoho_aep.adapters.adobe.flow import FlowServiceClient
from zoho_aep.adapters.adobe.ims import ImsTokenProvider
from zoho_aep.adapters.events import RecordingPublisher
from zoho_aep.adapters.http import HttpClient, RetryPolicy
from zoho_aep.adapters.logs import get_logger
from zoho_aep.adapters.secrets import AppSecrets, ConnectionStore
from zoho_aep.adapters.zoho.oauth import ZohoOAuthClient
from zoho_aep.config.settings import DEFAULT_SCOPES, Settings, load_settings
from zoho_aep.domain.links import LinkState
from zoho_aep.usecases.connect import ConnectDeps, Grant, store_authorization
from zoho_aep.usecases.provision import ProvisionDeps, ProvisionResult, provision_connection
from zoho_aep.wiring import ADOBE_POLICY, CALLBACK_POLICY

ADOBE_CLIENT_ID = "aep-client-id-0001"
ADOBE_CLIENT_SECRET = "p8e-aep-client-secret-0001"
ADOBE_ORG_ID = "5C13ABCDEF0123456789@AdobeOrg"
ADOBE_SCOPES = "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"


def adobe_secret(**overrides: str) -> str:
    """``{prefix}/adobe`` as an operator fills it."""
    value = {
        "client_id": ADOBE_CLIENT_ID,
        "client_secret": ADOBE_CLIENT_SECRET,
        "org_id": ADOBE_ORG_ID,
        "scopes": ADOBE_SCOPES,
    }
    value.update(overrides)
    return json.dumps(value)


@pytest.fixture(name="adobe")
def adobe_fixture(clock: FakeClock) -> Iterator[AdobeEmulator]:
    """The Adobe IMS + Flow Service emulator with this suite's credential registered."""
    emulator = AdobeEmulator(clock=clock).start()
    emulator.register_credential(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID)
    try:
        yield emulator
    finally:
        emulator.stop()


class FlakyOnce:
    """Wraps a method so that its ``n``-th call raises ``error`` (once), then behaves."""

    def __init__(self, method: Callable[..., Any], error: BaseException, n: int = 1) -> None:
        self.method = method
        self.error = error
        self.n = n
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.n:
            raise self.error
        return self.method(*args, **kwargs)


@dataclass
class Bench:
    """Everything one provisioning test touches, built like ``wiring.provision_deps`` builds it."""

    settings: Settings
    sm: Any
    zoho: ZohoEmulator
    adobe: AdobeEmulator
    clock: FakeClock
    store: ConnectionStore
    app_secrets: AppSecrets
    events: RecordingPublisher
    logger: Any
    logs: ListHandler
    sleeps: list[float] = field(default_factory=list)
    deps: ProvisionDeps = field(init=False)

    def __post_init__(self) -> None:
        self.use_policies(ADOBE_POLICY, CALLBACK_POLICY)

    def use_policies(self, adobe: RetryPolicy, zoho: RetryPolicy) -> None:
        """Wire the run's HTTP clients with these policies (the production ones by default).

        Sleeps are recorded instead of slept and jitter is pinned to its maximum, so waits are
        exact and tests fast.
        """
        self.zoho_oauth = ZohoOAuthClient(HttpClient(zoho, sleep=lambda _s: None))
        adobe_http = HttpClient(adobe, sleep=self.sleeps.append, rng=lambda: 1.0)
        self.ims = ImsTokenProvider(adobe_http, self.settings.adobe_ims_url, self.app_secrets.adobe, clock=self.clock)

        def flow(sandbox: str) -> FlowServiceClient:
            return FlowServiceClient(
                adobe_http, self.settings.adobe_platform_url, self.ims, self.app_secrets.adobe, sandbox
            )

        self.deps = ProvisionDeps(
            settings=self.settings,
            app_secrets=self.app_secrets,
            store=self.store,
            zoho=self.zoho_oauth,
            flow=flow,
            events=self.events,
            logger=self.logger,
            clock=self.clock,
        )

    # ---- arrange --------------------------------------------------------------------------------
    def authorize(self, connection: str = "acme", sandbox: str = "prod", dc: str = "eu") -> str:
        """A real consent at the Zoho emulator (self-client code), stored by the callback's code.

        Returns the refresh token Zoho issued.
        """
        code = self.zoho.issue_self_client_code(CLIENT_ID, dc, DEFAULT_SCOPES)
        creds = self.app_secrets.zoho_client()
        data_center = self.settings.data_centers[dc]
        tokens = self.zoho_oauth.exchange_code(data_center, CLIENT_ID, creds.secret_for(dc), code, None)
        connect = ConnectDeps(
            settings=self.settings,
            app_secrets=self.app_secrets,
            store=self.store,
            zoho=self.zoho_oauth,
            events=RecordingPublisher(),
            clock=self.clock,
        )
        grant = Grant.from_state(LinkState.new(connection, sandbox, self.clock()))
        store_authorization(connect, creds=creds, dc=data_center, tokens=tokens, grant=grant, now=self.clock())
        assert tokens.refresh_token is not None
        return tokens.refresh_token

    def around_flow(self, method: str, around: Callable[..., Any]) -> None:
        """Make the run's Flow Service clients call ``around(original, *args)`` for ``method``."""
        real = self.deps.flow

        def flow(sandbox: str) -> FlowServiceClient:
            client = real(sandbox)
            original = getattr(client, method)
            setattr(client, method, lambda *args: around(original, *args))
            return client

        self.deps.flow = flow

    def set_adobe_secret(self, text: str) -> None:
        """Replace ``{prefix}/adobe`` (the bench reads app secrets uncached, so it applies at once)."""
        self.sm.put_secret_value(SecretId=f"{PREFIX}/adobe", SecretString=text)

    # ---- act ------------------------------------------------------------------------------------
    def provision(self, connection: str = "acme") -> ProvisionResult:
        return provision_connection(self.deps, connection)

    # ---- assert ---------------------------------------------------------------------------------
    def secret(self, connection: str = "acme") -> dict[str, Any]:
        """The connection secret's JSON value, as other programs read it."""
        return self.store.require(connection).connection.to_value()

    def tags(self, connection: str = "acme") -> dict[str, str]:
        return self.store.get_tags(connection)

    def flow_calls(self, path: str = "", method: str | None = None) -> list[Request]:
        return self.adobe.calls(FLOW_PREFIX + path, method)

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.lines]


@pytest.fixture(name="bench")
def bench_fixture(
    app_secrets_seeded: dict[str, Any], sm: Any, zoho: ZohoEmulator, adobe: AdobeEmulator, clock: FakeClock
) -> Iterator[Bench]:
    """moto + both emulators + a configured Adobe credential + a captured logger."""
    sm.put_secret_value(SecretId=f"{PREFIX}/adobe", SecretString=adobe_secret())
    settings = load_settings(
        {
            "SECRET_PREFIX": PREFIX,
            "ZOHO_DATA_CENTERS_JSON": zoho.data_centers_json(),
            "ADOBE_IMS_URL": adobe.base_url,
            "ADOBE_PLATFORM_URL": adobe.base_url,
        }
    )
    logger = get_logger("provision-test")
    logs = ListHandler()
    logs.setFormatter(logger.registered_formatter)
    logger.addHandler(logs)
    bench = Bench(
        settings=settings,
        sm=sm,
        zoho=zoho,
        adobe=adobe,
        clock=clock,
        store=ConnectionStore(PREFIX, sleep=lambda _s: None),
        app_secrets=AppSecrets(PREFIX, max_age=0),
        events=RecordingPublisher(),
        logger=logger,
        logs=logs,
    )
    try:
        yield bench
    finally:
        logger.removeHandler(logs)
