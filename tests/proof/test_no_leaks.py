"""Leaks: the deployed handlers, run through their scenarios, never show a secret to anyone.

Each function is loaded from ``functions/*/app.py`` as Lambda loads it (real wiring: boto3 against
moto, EventBridge included, Powertools logs and EMF metrics on stdout, the wall clock) and run through
its good and bad outcomes. The leak hunt around every proof test (``conftest.hunt``) then searches
the raw log records (at DEBUG), the formatted log lines, stdout and stderr (EMF metrics included),
and what the tests add here: pages, answers, events as EventBridge received them, and the messages
of exceptions raised to the Lambda runtime. The needles: the seeded client secrets and state key,
every token the Zoho and Adobe emulators minted, every grant code and state they saw, and the Zoho
credentials handed to AEP.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from local.emulators.adobe import FLOW_PREFIX, AdobeEmulator
from local.emulators.base import Fault
from local.functions import ROOT
from local.functions import load_function as load_handler
from tests.support.aep import adobe_fixture, adobe_secret  # noqa: F401
from tests.support.constants import CALLBACK_URL, CLIENT_ID, PREFIX, STATE_KEY
from tests.support.fakes import LambdaContext, ListHandler, http_event
from tests.support.leaks import LeakHunt
from zoho_aep.adapters import aws
from zoho_aep.config.settings import load_settings
from zoho_aep.domain.errors import BadRequest, ProvisioningWillRetry
from zoho_aep.domain.links import build_connect_link

AUTHORIZED = json.loads((ROOT / "events/adobe_provisioning_event.json").read_text())
EU_ADMIN, US_ADMIN = "admin@acme-eu.example", "admin@acme.example"  # the conftest's two Zoho orgs


@dataclass
class Deployed:
    """The stack's three functions over moto and the emulators, every output collected."""

    zoho: Any
    adobe: AdobeEmulator
    hunt: LeakHunt
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: ListHandler = field(default_factory=ListHandler)
    handlers: dict[str, ModuleType] = field(default_factory=dict)

    def handler(self, function: str) -> ModuleType:
        if function not in self.handlers:
            module = load_handler(function)
            self.lines.setFormatter(module.logger.registered_formatter)
            module.logger.addHandler(self.lines)
            self.handlers[function] = module
        return self.handlers[function]

    def invoke(self, function: str, event: Any) -> Any:
        answer = self.handler(function).lambda_handler(event, LambdaContext())
        self.hunt.look_in(f"{function} answer", answer)
        return answer

    def invoke_raising(self, function: str, event: Any, error: type[Exception]) -> None:
        with pytest.raises(error) as info:
            self.handler(function).lambda_handler(event, LambdaContext())
        self.hunt.look_in(f"{function} exception", str(info.value), repr(info.value), info.value.args)

    def consent(self, connection: str, *, accept: bool = True, user: str = EU_ADMIN) -> str:
        """A person opens a fresh connect link and answers Zoho's consent page: the redirect's query."""
        link = build_connect_link(
            table=load_settings().data_centers,
            client_id=CLIENT_ID,
            state_key=STATE_KEY,
            redirect_uri=CALLBACK_URL,
            scopes=load_settings().zoho_scopes,
            connection=connection,
            sandbox="prod",
            now=time.time(),
        ).url
        self.zoho.set_user(user)
        return urlsplit(self.zoho.consent(link, accept=accept)).query

    def callback(self, query: str, method: str = "GET") -> dict[str, Any]:
        answer: dict[str, Any] = self.invoke("oauth_callback", http_event(query, method))
        return answer

    def close(self) -> None:
        for module in self.handlers.values():
            module.logger.removeHandler(self.lines)
        self.hunt.look_in("log line", *self.lines.lines)
        self.hunt.look_in("event", *self.events)


@pytest.fixture
def deployed(
    zoho: Any,
    adobe: AdobeEmulator,
    sm: Any,
    app_secrets_seeded: Any,
    hunt: LeakHunt,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Deployed]:
    zoho.clock = adobe.clock = time.time  # the handlers read the wall clock
    sm.put_secret_value(SecretId=f"{PREFIX}/adobe", SecretString=adobe_secret())
    for var, value in {
        "SECRET_PREFIX": PREFIX,
        "CALLBACK_URL": CALLBACK_URL,
        "EVENT_BUS_NAME": "default",
        "ZOHO_DATA_CENTERS_JSON": zoho.data_centers_json(),
        "ADOBE_IMS_URL": adobe.base_url,
        "ADOBE_PLATFORM_URL": adobe.base_url,
    }.items():
        monkeypatch.setenv(var, value)
    world = Deployed(zoho, adobe, hunt)
    aws.client("events").meta.events.register(
        "provide-client-params.events.PutEvents", lambda params, **_: world.events.extend(params["Entries"])
    )
    yield world
    world.close()


def emf(capsys: pytest.CaptureFixture[str], hunt: LeakHunt) -> list[dict[str, Any]]:
    """The EMF metric lines printed so far (searched like every other output)."""
    out = capsys.readouterr()
    hunt.look_in("output", out.out, out.err)
    return [json.loads(line) for line in out.out.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_the_callback_shows_no_secret_in_any_outcome(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    first = deployed.consent("acme")
    outcomes = [
        deployed.callback(first),  # connected
        deployed.callback(deployed.consent("acme")),  # re-authorized
        deployed.callback(first),  # the same link again: reused
        deployed.callback(deployed.consent("acme", accept=False)),  # declined
        deployed.callback(deployed.consent("acme"), method="POST"),  # wrong method
        deployed.callback(
            urlencode({**dict(parse_qsl(deployed.consent("acme"))), "accounts-server": "https://x.test"})
        ),
    ]
    deployed.zoho.inject(Fault("/oauth/v2/token", status=500), times=3)
    outcomes.append(deployed.callback(deployed.consent("acme")))  # Zoho down
    deployed.zoho.inject(Fault("/oauth/v2/token", status=200, body={"error": "invalid_code"}))
    outcomes.append(deployed.callback(deployed.consent("acme")))  # code spent
    outcomes.append(deployed.callback(deployed.consent("acme", user=US_ADMIN)))  # another org

    assert [a["statusCode"] for a in outcomes] == [200, 200, 400, 200, 405, 400, 503, 400, 409]
    assert len(deployed.events) == 2
    metrics = emf(capsys, deployed.hunt)
    assert len(metrics) == len(outcomes), "one CallbackOutcome metric per request, searched too"


@pytest.mark.filterwarnings("ignore:No application metrics")  # the refused invocation counts nothing
def test_the_refresh_shows_no_secret_in_any_outcome(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    # "revoked" belongs to another Zoho user: revoking consent kills all of one user's grants.
    for name, user in (("acme", EU_ADMIN), ("revoked", US_ADMIN), ("flaky", EU_ADMIN)):
        deployed.zoho.override_next_token_response(expires_in=600)  # due at once
        assert deployed.callback(deployed.consent(name, user=user))["statusCode"] == 200
    store_secret = aws.client("secretsmanager").get_secret_value
    revoked = json.loads(store_secret(SecretId=f"{PREFIX}/connections/revoked")["SecretString"])["refresh_token"]
    deployed.zoho.revoke_consent(revoked)
    deployed.zoho.inject(Fault("/oauth/v2/token", status=502), times=3)

    outage = deployed.invoke("token_refresh", {"connections": ["flaky"], "force": True})
    report = deployed.invoke("token_refresh", {})  # the scheduled cycle: flaky recovers
    deployed.invoke_raising("token_refresh", {"connection": "acme"}, BadRequest)

    assert outage["connections"][0]["outcome"] == "failed"
    assert {c["connection"]: c["outcome"] for c in report["connections"]} == {
        "acme": "refreshed",
        "flaky": "refreshed",
        "revoked": "needs-reauth",
    }
    assert {e["DetailType"] for e in deployed.events} >= {
        "Zoho connection needs reauthorization",
        "Zoho connection recovered",
    }
    assert any("RefreshFailed" in m for m in emf(capsys, deployed.hunt))


def test_provisioning_shows_no_secret_in_any_outcome(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    assert deployed.callback(deployed.consent("acme"))["statusCode"] == 200

    created = deployed.invoke("adobe_provisioning", AUTHORIZED)
    assert deployed.callback(deployed.consent("acme"))["statusCode"] == 200
    updated = deployed.invoke("adobe_provisioning", {"connection": "acme"})  # PATCH, then revoke the old token
    deployed.adobe.expire_tokens()  # the gateway answers 401013: one new IMS token, one retry
    deployed.adobe.patch_refused = True  # create new, delete old
    replaced = deployed.invoke("adobe_provisioning", {"connection": "acme"})
    deployed.adobe.inject(Fault(FLOW_PREFIX + "/connectionSpecs", status=429, headers={"Retry-After": "600"}))
    deployed.invoke_raising("adobe_provisioning", {"connection": "acme"}, ProvisioningWillRetry)
    deployed.adobe.zoho_spec_state = "gone"
    retired = deployed.invoke("adobe_provisioning", {"connection": "acme"})

    assert [created["created"], updated["created"], replaced["created"]] == [True, False, True]
    assert updated["revoked_refresh_tokens"] == 1
    assert (retired["ok"], retired["reason_code"]) == (False, "aep-zoho-source-retired")
    assert {e["DetailType"] for e in deployed.events} >= {"AEP base connection provisioned", "AEP provisioning failed"}
    assert any("ProvisioningOutcome" in m for m in emf(capsys, deployed.hunt))
