"""The connect route: a used, expired or altered link says so before the admin consents.

A connect link leads to the stack's ``GET /oauth/connect`` first. A link the callback would accept is
redirected (302) to Zoho's consent page with the same parameters; any other gets the page that says
why, before anyone has seen Zoho. Nothing is written, no event is sent, Zoho is not called.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.support.callback import CallbackHarness
from tests.support.constants import CALLBACK_URL
from tests.support.fakes import FakeClock, http_event
from zoho_aep.domain.links import connect_route_url
from zoho_aep.edges.pages import SECURITY_HEADERS


@pytest.fixture
def cb(zoho: Any, sm: Any, app_secrets_seeded: Any, clock: FakeClock) -> Iterator[CallbackHarness]:
    harness = CallbackHarness(zoho=zoho, sm=sm, clock=clock)
    yield harness
    harness.close()


def route_link(cb: CallbackHarness, connection: str = "acme", sandbox: str = "prod", **changes: str) -> str:
    """The link `zoho-aep link` prints, for the harness's stack (query changed by ``changes``)."""
    from zoho_aep.domain.links import ConnectLink, LinkState

    url = cb.link(connection, sandbox)
    link = ConnectLink(url=url, state=LinkState(connection, sandbox, 0, 0, "n"), data_center="us")
    routed = connect_route_url(CALLBACK_URL, link)
    if changes:
        parts = urlsplit(routed)
        query = dict(parse_qsl(parts.query))
        query.update(changes)
        from urllib.parse import urlencode

        routed = f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"
    return routed


def open_link(cb: CallbackHarness, link: str, method: str = "GET") -> dict[str, Any]:
    return cb.app.handle(http_event(urlsplit(link).query, method, "/oauth/connect", "GET /oauth/connect"))


def test_a_fresh_link_is_sent_on_to_zohos_consent_page_unchanged(cb: CallbackHarness) -> None:
    link = route_link(cb)
    answer = open_link(cb, link)
    assert answer["statusCode"] == 302
    location = answer["headers"]["Location"]
    assert location.split("?")[0] == f"{cb.zoho.accounts_url('us')}/oauth/v2/auth"
    sent = {k: v for k, v in parse_qsl(urlsplit(link).query) if k != "dc"}
    assert dict(parse_qsl(urlsplit(location).query)) == sent
    assert {k: answer["headers"].get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS  # no-store, no-referrer
    assert cb.outcomes == ["link-opened"]
    # ... and the consent it leads to completes as before.
    redirect = cb.zoho.consent(location)
    assert cb.call(urlsplit(redirect).query)["statusCode"] == 200


def test_a_used_link_says_so_before_the_admin_consents(cb: CallbackHarness) -> None:
    link = route_link(cb)
    location = open_link(cb, link)["headers"]["Location"]
    assert cb.call(urlsplit(cb.zoho.consent(location)).query)["statusCode"] == 200
    zoho_calls = len(cb.zoho.requests)

    again = open_link(cb, link)

    assert (again["statusCode"], CallbackHarness.page_code(again)) == (400, "state-reused")
    assert "Link already used" in again["body"]
    assert len(cb.zoho.requests) == zoho_calls, "the admin never reached Zoho"


def test_an_expired_link_says_so_before_the_admin_consents(cb: CallbackHarness) -> None:
    link = route_link(cb)
    cb.clock.advance(16 * 60)
    answer = open_link(cb, link)
    assert (answer["statusCode"], CallbackHarness.page_code(answer)) == (400, "state-expired")
    assert "expired" in answer["body"] and cb.zoho.requests == []


def test_a_link_for_another_sandbox_than_the_connections_says_so_before_the_consent(cb: CallbackHarness) -> None:
    assert cb.connect("acme", sandbox="prod")["statusCode"] == 200
    answer = open_link(cb, route_link(cb, sandbox="dev"))
    assert (answer["statusCode"], CallbackHarness.page_code(answer)) == (409, "connection-sandbox-mismatch")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"redirect_uri": "https://attacker.example/cb"}, "connect-link-invalid"),
        ({"client_id": "1000.SOMEONEELSE"}, "connect-link-invalid"),
        ({"response_type": "token"}, "connect-link-invalid"),
        ({"dc": "mars"}, "connect-link-invalid"),
        ({"state": "garbled"}, "state-invalid"),
    ],
)
def test_an_altered_link_is_refused_and_never_redirected(
    cb: CallbackHarness, changes: dict[str, str], code: str
) -> None:
    before = cb.snapshot()
    answer = open_link(cb, route_link(cb, **changes))
    assert (answer["statusCode"], CallbackHarness.page_code(answer)) == (400, code)
    assert "Location" not in answer["headers"]
    assert cb.snapshot() == before and cb.events.events == [] and cb.zoho.requests == []


def test_china_starts_on_chinas_accounts_server(cb: CallbackHarness) -> None:
    answer = open_link(cb, route_link(cb, dc="cn"))
    assert answer["headers"]["Location"].startswith(f"{cb.zoho.accounts_url('cn')}/oauth/v2/auth?")


def test_only_get_is_accepted(cb: CallbackHarness) -> None:
    answer = open_link(cb, route_link(cb), method="POST")
    assert (answer["statusCode"], answer["headers"]["Allow"]) == (405, "GET")


def test_the_callback_keeps_refusing_in_its_own_order(cb: CallbackHarness) -> None:
    """Going around the connect route (straight to Zoho) changes nothing: the callback checks it all."""
    query = cb.consent(cb.link())
    assert cb.call(query)["statusCode"] == 200
    assert CallbackHarness.page_code(cb.call(query)) == "state-reused"
