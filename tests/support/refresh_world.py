"""A token-refresh test bench: moto's Secrets Manager, the Zoho emulator over real HTTP, a fake clock.

Connections are created the way the callback creates them (a real consent at the emulator, then
``connect.store_authorization``), so the refresh is tested against what production writes.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.support.constants import CLIENT_ID, PREFIX
from tests.support.fakes import FakeClock, ListHandler
from zoho_aep.adapters.events import RecordingPublisher
from zoho_aep.adapters.http import HttpClient, RetryPolicy
from zoho_aep.adapters.logs import get_logger
from zoho_aep.adapters.secrets import AppSecrets, ConnectionStore
from zoho_aep.adapters.zoho.oauth import TokenSet, ZohoOAuthClient
from zoho_aep.config.settings import DEFAULT_SCOPES, load_settings
from zoho_aep.domain.connection import Connection
from zoho_aep.domain.links import LinkState
from zoho_aep.usecases.connect import ConnectDeps, Grant, store_authorization
from zoho_aep.usecases.refresh.cycle import refresh_due_connections
from zoho_aep.usecases.refresh.deps import RefreshDeps
from zoho_aep.usecases.refresh.outcomes import CycleReport

TOKEN_PATH = "/oauth/v2/token"


def edited(name: str, current: Connection | None, **fields: Any) -> Connection:
    """``current`` with some keys of its JSON value replaced (None removes a key)."""
    value = {**(current.to_value() if current else {}), **fields}
    return Connection.from_value(name, {k: v for k, v in value.items() if v is not None})


# Short timeouts and no backoff sleeps: failure tests stay fast, retries still happen for real.
TEST_POLICY = RetryPolicy(attempts=3, connect_timeout=1.0, read_timeout=0.3, deadline=5.0, backoff_base=0.0)


class RefreshWorld:
    """Everything a refresh cycle needs, wired to the emulator and moto, plus inspection helpers."""

    def __init__(self, sm: Any, zoho: Any, clock: FakeClock, *, window: int = 20, schedule: int = 10) -> None:
        self.sm = sm
        self.zoho = zoho
        self.clock = clock
        self.settings = load_settings({"ZOHO_DATA_CENTERS_JSON": zoho.data_centers_json()})
        self.table = self.settings.data_centers
        self.store = ConnectionStore(PREFIX, sm, sleep=lambda s: None)
        self.app_secrets = AppSecrets(PREFIX, sm)
        self.events = RecordingPublisher()
        self.oauth = ZohoOAuthClient(HttpClient(TEST_POLICY, sleep=lambda s: None))
        self.logger = get_logger("refresh-tests")
        self.log = ListHandler()
        self.log.setFormatter(self.logger.registered_formatter)
        self.logger.addHandler(self.log)
        self.deps = RefreshDeps(
            store=self.store,
            app_secrets=self.app_secrets,
            zoho=self.oauth,
            events=self.events,
            data_centers=self.table,
            logger=self.logger,
            clock=clock,
            sleep=lambda s: None,
            window_minutes=window,
            concurrency=4,
            schedule_minutes=schedule,
        )
        self.secret_reads: Counter[str] = Counter()  # values read, one by one or in a batch
        sm.meta.events.register("before-parameter-build.secrets-manager.GetSecretValue", self._count_read)
        sm.meta.events.register("before-parameter-build.secrets-manager.BatchGetSecretValue", self._count_batch)

    def close(self) -> None:
        self.logger.removeHandler(self.log)
        self.sm.meta.events.unregister("before-parameter-build.secrets-manager.GetSecretValue", self._count_read)
        self.sm.meta.events.unregister("before-parameter-build.secrets-manager.BatchGetSecretValue", self._count_batch)

    def _count_read(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.secret_reads[params["SecretId"]] += 1

    def _count_batch(self, params: dict[str, Any], **kwargs: Any) -> None:
        for secret_id in params.get("SecretIdList", []):
            self.secret_reads[secret_id] += 1

    # ---- acting ---------------------------------------------------------------------------------
    def consent(self, name: str, *, dc: str = "us", user: str | None = None, scopes: str | None = None) -> TokenSet:
        """A Zoho admin consents for ``name``: real tokens from the emulator, stored as the callback does."""
        code = self.zoho.issue_self_client_code(CLIENT_ID, dc, scopes or DEFAULT_SCOPES, user=user)
        creds = self.app_secrets.zoho_client(force=True)
        data_center = self.table[dc]
        tokens = self.oauth.exchange_code(data_center, creds.client_id, creds.secret_for(dc), code, None)
        connect = ConnectDeps(self.settings, self.app_secrets, self.store, self.oauth, self.events, self.clock)
        now = self.clock()
        grant = Grant.from_state(LinkState.new(name, "prod", now))
        store_authorization(connect, creds=creds, dc=data_center, tokens=tokens, grant=grant, now=now)
        return tokens

    def cycle(self, **kwargs: Any) -> CycleReport:
        return refresh_due_connections(self.deps, **kwargs)

    def edit(self, name: str, **fields: Any) -> None:
        """Change keys of a connection's JSON value (as provisioning, or an attacker, would)."""
        self.store.write(name, lambda current: edited(name, current, **fields))

    # ---- looking --------------------------------------------------------------------------------
    def value(self, name: str) -> dict[str, Any]:
        """The connection secret's JSON value, as other programs read it."""
        return self.store.require(name).connection.to_value()

    def tags(self, name: str) -> dict[str, str]:
        return self.store.get_tags(name)

    def refresh_calls(self) -> list[Any]:
        """Requests to Zoho's token endpoint that were refresh grants."""
        return [r for r in self.zoho.calls(TOKEN_PATH, "POST") if r.form.get("grant_type") == "refresh_token"]

    def events_of(self, detail_type: str) -> list[dict[str, Any]]:
        return self.events.of_type(detail_type)

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.lines]

    def outcome_lines(self, connection: str) -> list[dict[str, Any]]:
        return [
            r for r in self.log_records() if r.get("message") == "refresh outcome" and r.get("connection") == connection
        ]
