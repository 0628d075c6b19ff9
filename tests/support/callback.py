"""A callback harness: the real use case and edge against moto and the Zoho emulator over HTTP."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.support.constants import CALLBACK_URL, CLIENT_ID, PREFIX, STATE_KEY
from tests.support.fakes import FakeClock, ListHandler, http_event
from zoho_aep.adapters.events import RecordingPublisher
from zoho_aep.adapters.http import HttpClient, RetryPolicy
from zoho_aep.adapters.logs import get_logger
from zoho_aep.adapters.secrets import AppSecrets, ConnectionStore
from zoho_aep.adapters.zoho.oauth import ZohoOAuthClient
from zoho_aep.config.settings import load_settings
from zoho_aep.domain.links import build_connect_link
from zoho_aep.edges.oauth_callback import CallbackApp
from zoho_aep.usecases.connect import ConnectDeps

# Short timeouts: the emulator answers in milliseconds unless a test makes it hang.
TEST_POLICY = RetryPolicy(attempts=3, connect_timeout=1.0, read_timeout=0.6, deadline=4.0, backoff_base=0.01)


@dataclass
class CallbackHarness:
    zoho: Any
    sm: Any
    clock: FakeClock
    scopes: str = "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.users.READ,ZohoCRM.org.READ"
    events: RecordingPublisher = field(default_factory=RecordingPublisher)
    log: ListHandler = field(default_factory=ListHandler)

    def __post_init__(self) -> None:
        env = {
            "SECRET_PREFIX": PREFIX,
            "CALLBACK_URL": CALLBACK_URL,
            "ZOHO_SCOPES": self.scopes,
            "ZOHO_DATA_CENTERS_JSON": self.zoho.data_centers_json(),
        }
        self.settings = load_settings(env, require_callback_url=True)
        self.store = ConnectionStore(PREFIX, self.sm, sleep=lambda s: None)
        self.deps = ConnectDeps(
            settings=self.settings,
            app_secrets=AppSecrets(PREFIX, self.sm),
            store=self.store,
            zoho=ZohoOAuthClient(HttpClient(TEST_POLICY)),
            events=self.events,
            clock=self.clock,
        )
        self.logger = get_logger("oauth-callback-test")
        self.log.setFormatter(self.logger.registered_formatter)
        self.logger.addHandler(self.log)
        self.logger.setLevel(logging.DEBUG)
        self.outcomes: list[str] = []
        self.app = CallbackApp(lambda: self.deps, logger=self.logger, on_outcome=self.outcomes.append)

    def close(self) -> None:
        self.logger.removeHandler(self.log)

    def link(
        self,
        connection: str = "acme",
        sandbox: str = "prod",
        scopes: str | None = None,
        ttl: int = 15,
        state_key: str = STATE_KEY,
        *,
        data_center: str | None = None,
        zoho_org_id: str | None = None,
        pkce: bool = True,
    ) -> str:
        return build_connect_link(
            table=self.settings.data_centers,
            client_id=CLIENT_ID,
            state_key=state_key,
            redirect_uri=CALLBACK_URL,
            scopes=tuple((scopes or self.scopes).split(",")),
            connection=connection,
            sandbox=sandbox,
            data_center=data_center,
            zoho_org_id=zoho_org_id,
            pkce=pkce,
            ttl_minutes=ttl,
            now=self.clock(),
        ).url

    def consent(self, link: str, user: str | None = None, accept: bool = True) -> str:
        """The redirect's raw query string, as the browser would bring it to the callback."""
        if user:
            self.zoho.set_user(user)
        redirect = self.zoho.consent(link, accept=accept)
        assert redirect.startswith(CALLBACK_URL + "?"), redirect
        return urlsplit(redirect).query

    def call(self, query: str, method: str = "GET") -> dict[str, Any]:
        return self.app.handle(http_event(query, method))

    def connect(self, connection: str = "acme", user: str | None = None, sandbox: str = "prod") -> dict[str, Any]:
        return self.call(self.consent(self.link(connection, sandbox), user))

    # ---- observations ------------------------------------------------------------------------
    def secret(self, connection: str = "acme") -> dict[str, Any]:
        answer = self.sm.get_secret_value(SecretId=f"{PREFIX}/connections/{connection}", VersionStage="AWSCURRENT")
        return json.loads(answer["SecretString"])

    def tags(self, connection: str = "acme") -> dict[str, str]:
        return self.store.get_tags(connection)

    def snapshot(self) -> dict[str, Any]:
        """Every connection secret's versions and tags: equal snapshots mean nothing was written."""
        result: dict[str, Any] = {}
        for item in self.sm.list_secrets(MaxResults=100).get("SecretList", []):
            name = item["Name"]
            if not name.startswith(f"{PREFIX}/connections/"):
                continue
            versions = self.sm.list_secret_version_ids(SecretId=name)["Versions"]
            result[name] = (
                sorted((v["VersionId"], tuple(sorted(v.get("VersionStages", [])))) for v in versions),
                sorted((t["Key"], t["Value"]) for t in item.get("Tags", [])),
            )
        return result

    @staticmethod
    def page_code(answer: dict[str, Any]) -> str | None:
        """The code a page shows in its footer (every page has one)."""
        body = answer["body"]
        marker = "Code: <code>"
        return body.split(marker, 1)[1].split("</code>", 1)[0] if marker in body else None

    def token_requests(self) -> list[Any]:
        return self.zoho.calls("/oauth/v2/token", "POST")
