"""No seeded token, client secret, state key, grant code or state value reaches any output."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from local.emulators.base import Fault
from tests.support.callback import CallbackHarness
from tests.support.constants import CLIENT_SECRET, EU_SECRET, STATE_KEY
from tests.support.fakes import FakeClock
from tests.support.leaks import TokenRecorder, find_leaks


def test_no_secret_in_logs_pages_events_or_errors_across_every_outcome(
    zoho: Any,
    sm: Any,
    app_secrets_seeded: Any,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = TokenRecorder(zoho)
    cb = CallbackHarness(zoho=zoho, sm=sm, clock=clock)
    pages: list[str] = []
    queries: list[str] = []

    def run(query: str, method: str = "GET") -> None:
        queries.append(query)
        answer = cb.call(query, method)
        pages.append(json.dumps(answer))

    def fresh(connection: str = "acme", user: str | None = None) -> str:
        clock.advance(70)  # stay under Zoho's 10 grant codes per 10 minutes
        return cb.consent(cb.link(connection), user)

    try:
        run(fresh())  # connected
        run(fresh())  # re-authorized
        run(queries[0])  # reused state
        run(fresh(user="admin@acme-eu.example"))  # different org: refused, revoked
        q = fresh("bad-domain")
        zoho.override_next_token_response(api_domain="https://evil.example")
        run(q)  # api_domain outside: revoked
        q = fresh("no-refresh")
        zoho.override_next_token_response(refresh_token=None)
        run(q)
        q = fresh("outage")
        zoho.inject(Fault("/oauth/v2/token", kind="status", status=500, body={}), times=3)
        run(q)
        q = fresh("spent")
        zoho.inject(Fault("/oauth/v2/token", kind="status", status=200, body={"error": "invalid_code"}))
        run(q)
        q = fresh("throttled")
        zoho.throttle_next()
        run(q)
        run(fresh("wrong-method"), method="POST")
        params = dict(parse_qsl(fresh("attacker")))
        params["accounts-server"] = "https://attacker.example"
        run(urlencode(params))
        run(fresh("dup") + "&code=x")
        q = fresh("expired")
        clock.advance(3600)
        run(q)
    finally:
        cb.close()

    needles = {CLIENT_SECRET, EU_SECRET, STATE_KEY} | recorder.values | recorder.seen_codes_and_states()
    for query in queries:
        needles |= {v for k, v in parse_qsl(query) if k in ("code", "state")}
    assert len(recorder.values) >= 10, "the scenario should have minted tokens to look for"
    captured = capsys.readouterr()
    haystacks = (
        cb.log.lines
        + [r.getMessage() + json.dumps(getattr(r, "__dict__", {}), default=str) for r in caplog.records]
        + [captured.out, captured.err]
        + pages
        + [json.dumps(cb.events.events)]
    )
    assert len(cb.log.lines) >= 13
    assert find_leaks(haystacks, needles) == []
