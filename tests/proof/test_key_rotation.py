"""Rotating the state key kills every open link at once, end to end.

The README promises it, but the callback cached the key for 300 s: an old link still connected right
after a rotation. Here the operator's CLI signs a link, the key is rotated in Secrets Manager, and the
deployed callback (``functions/oauth_callback/app.py`` over moto and the Zoho emulator, as in
``test_no_leaks.py``) refuses that link before any call to Zoho, while a link the CLI signs with the
new key connects. Then the use case alone: forged signatures cannot make it read the key often.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.proof.test_no_leaks import EU_ADMIN, Deployed, deployed  # noqa: F401  (the fixture)
from tests.support.aep import adobe_fixture  # noqa: F401
from tests.support.callback import CallbackHarness
from tests.support.constants import PREFIX
from tests.support.fakes import FakeClock, LambdaContext, http_event
from tests.support.leaks import LeakHunt
from zoho_aep.adapters.secrets import AppSecrets
from zoho_aep.config.parameters import STATE_KEY_RECHECK_SECONDS
from zoho_aep.domain.links import LinkState
from zoho_aep.edges import cli

NEW_KEY = "rotated-state-key-0123456789abcdef0123456789abcdef"


def cli_link(connection: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``zoho-aep link`` as the operator runs it (its output is the operator's, not a log)."""
    assert cli.main(["link", "--connection", connection, "--sandbox", "prod"]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def open_link(world: Deployed, link: str) -> dict[str, Any]:
    """A person opens the link: the deployed connect route (``GET /oauth/connect``) answers. Not through
    the leak hunt: its redirect carries the link's own state to Zoho, which is what it is for."""
    event = http_event(urlsplit(link).query, path="/oauth/connect", route_key="GET /oauth/connect")
    answer: dict[str, Any] = world.handler("oauth_callback").lambda_handler(event, LambdaContext())
    return answer


def redirect_for(world: Deployed, link: str) -> str:
    """The link opened, then Zoho's consent answered: the redirect's query for the callback."""
    opened = open_link(world, link)
    assert opened["statusCode"] == 302, opened
    world.zoho.set_user(EU_ADMIN)
    return urlsplit(world.zoho.consent(opened["headers"]["Location"])).query


def test_rotating_the_state_key_kills_an_open_link_at_once(
    deployed: Deployed,  # noqa: F811 - the fixture imported above
    sm: Any,
    hunt: LeakHunt,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hunt.secret(NEW_KEY)
    handed_out = cli_link("acme", capsys)
    assert deployed.callback(redirect_for(deployed, cli_link("beta", capsys)))["statusCode"] == 200  # key cached
    redirect = redirect_for(deployed, handed_out)  # consented before the rotation, not yet redirected back
    token_calls = len(deployed.zoho.calls("/oauth/v2/token"))

    sm.put_secret_value(SecretId=f"{PREFIX}/state-key", SecretString=NEW_KEY)  # the operator rotates it
    refused = deployed.callback(redirect)
    reopened = open_link(deployed, handed_out)  # and the connect route no longer sends anyone to Zoho with it

    assert (refused["statusCode"], CallbackHarness.page_code(refused)) == (400, "state-signature-invalid")
    assert (reopened["statusCode"], CallbackHarness.page_code(reopened)) == (400, "state-signature-invalid")
    assert len(deployed.zoho.calls("/oauth/v2/token")) == token_calls, "no code exchange for a dead link"
    assert sm.list_secrets(Filters=[{"Key": "name", "Values": [f"{PREFIX}/connections/acme"]}])["SecretList"] == []
    connected = deployed.callback(redirect_for(deployed, cli_link("acme", capsys)))
    assert (connected["statusCode"], CallbackHarness.page_code(connected)) == (200, "connected")


@pytest.fixture
def harness(zoho: Any, sm: Any, app_secrets_seeded: Any, clock: FakeClock) -> Any:
    cb = CallbackHarness(zoho=zoho, sm=sm, clock=clock)
    cb.monotonic = FakeClock(0.0)  # type: ignore[attr-defined]
    cb.deps.app_secrets = AppSecrets(PREFIX, sm, clock=cb.monotonic)  # type: ignore[attr-defined]
    key_reads: list[str] = []
    sm.meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue",
        lambda params, **_: key_reads.append(params["SecretId"]) if params["SecretId"].endswith("/state-key") else None,
    )
    cb.key_reads = key_reads  # type: ignore[attr-defined]
    yield cb
    cb.close()


def test_a_link_signed_after_a_rotation_connects_once_the_key_is_read_again(harness: Any, sm: Any) -> None:
    assert harness.connect("beta")["statusCode"] == 200  # the old key is cached
    sm.put_secret_value(SecretId=f"{PREFIX}/state-key", SecretString=NEW_KEY)
    harness.monotonic.advance(STATE_KEY_RECHECK_SECONDS)

    answer = harness.call(harness.consent(harness.link("acme", state_key=NEW_KEY)))

    assert (answer["statusCode"], harness.outcomes[-1]) == (200, "connected")


def test_forged_signatures_read_the_state_key_at_most_once_per_recheck_interval(harness: Any) -> None:
    now = int(harness.clock())
    forged = LinkState("acme", "prod", now, now + 900, "forged-nonce-0000").sign("not-this-stacks-key-0000000000")
    query = urlencode({"state": forged, "code": "1000.x", "location": "us"})
    harness.call(query)
    reads = len(harness.key_reads)

    for _ in range(50):
        harness.call(query)
    harness.monotonic.advance(STATE_KEY_RECHECK_SECONDS)
    harness.call(query)

    assert set(harness.outcomes) == {"state-signature-invalid"}
    assert len(harness.key_reads) - reads == 1
