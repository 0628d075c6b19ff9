"""Hostile callbacks: whatever reaches the public callback, it answers a clean page and does no harm.

Hypothesis throws query strings (random text and bytes, parameter soups, mangled real redirects,
repeated keys, huge and crowded queries, odd encodings, validly signed states beside hostile
parameters), methods, headers and bodies at the callback edge (``CallbackApp.handle``, payload 2.0),
wired to moto and the Zoho emulator as in production. For every request:

- a page: 4xx, or a 200 for a connection or a declined consent, or a 502/503 naming Zoho; never a
  500, always ``text/html`` with the security headers, and no markup from the request in it;
- one ``callback outcome`` log line with the page's code;
- outbound TCP connections (counted at the socket) only to hosts of the data-center table, and
  Zoho requests only to the data center the redirect's ``location`` names;
- no secret write, no event and no outbound connection at all unless the request carried a state
  this stack signed, and then writes and events only for that state's connection.
"""

from __future__ import annotations

import enum
import json
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.proof.conftest import PROOF
from tests.proof.figures import FIGURES
from tests.proof.sizes import examples
from tests.support.callback import CallbackHarness
from tests.support.constants import CLIENT_ID, PREFIX
from tests.support.fakes import FakeClock, http_event
from tests.support.leaks import LeakHunt
from tests.support.network import OutboundConnections, endpoints_of
from zoho_aep.domain.datacenters import DataCenterTable
from zoho_aep.domain.events import CONNECTION_AUTHORIZED
from zoho_aep.domain.links import LinkState
from zoho_aep.edges.pages import SECURITY_HEADERS

WRITE_OPERATIONS = frozenset(
    {"CreateSecret", "PutSecretValue", "UpdateSecretVersionStage", "TagResource", "UntagResource", "UpdateSecret"}
)
# The markup the product's own pages use; anything else in a page came from somewhere it should not.
PAGE_TAGS = frozenset({"html", "head", "meta", "title", "style", "body", "h1", "p", "footer", "code", "strong"})
CLEAN_UPSTREAM_STATUSES = frozenset({502, 503})
SUCCESS_CODES = frozenset({"connected", "zoho-consent-declined"})


# ---- the edge under attack ------------------------------------------------------------------------
class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


@dataclass
class Edge:
    """The callback edge, and everything one request can be seen doing."""

    cb: CallbackHarness
    net: OutboundConnections
    hunt: LeakHunt

    def __post_init__(self) -> None:
        self.table = self.cb.settings.data_centers
        self.allowed = endpoints_of(self.table.allowed_origins())
        self.operations: list[tuple[str, str]] = []
        self.cb.sm.meta.events.register("before-parameter-build.secrets-manager", self._record_operation)

    def close(self) -> None:
        self.cb.sm.meta.events.unregister("before-parameter-build.secrets-manager", self._record_operation)

    def _record_operation(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.operations.append((model.name, str(params.get("SecretId") or params.get("Name") or "")))

    # ---- material for requests ----------------------------------------------------------------
    def signed_state(self, connection: str = "acme", *, key: str | None = None, age: int = 0) -> str:
        """A state as a connect link carries it (``key`` another stack's, ``age`` seconds past expiry)."""
        from tests.support.constants import STATE_KEY

        now = self.cb.clock() - (15 * 60 + age if age else 0)
        state = LinkState.new(connection, "prod", now).sign(key or STATE_KEY)
        self.hunt.secret(state)
        return state

    def real_redirect(self, connection: str) -> list[tuple[str, str]]:
        """A real consent at the emulator: the redirect's parameters, a live grant code included."""
        self.cb.clock.advance(61)  # Zoho allows 10 grant codes per client per 10 minutes
        return parse_qsl(self.cb.consent(self.cb.link(connection)), keep_blank_values=True)

    # ---- one request ----------------------------------------------------------------------------
    def send(self, event: dict[str, Any], signed_for: str | None) -> dict[str, Any]:
        """Send ``event``; check every promise. ``signed_for``: the connection of a valid state in it."""
        cb = self.cb
        before = cb.snapshot()
        marks = (len(self.operations), len(cb.events.events), len(cb.zoho.requests), len(cb.log.lines))
        outcomes = len(cb.outcomes)
        net_mark = self.net.mark()

        answer = cb.app.handle(event)

        self.hunt.look_in("page", answer)
        writes = [op for op in self.operations[marks[0] :] if op[0] in WRITE_OPERATIONS]
        events = cb.events.events[marks[1] :]
        zoho_requests = cb.zoho.requests[marks[2] :]
        lines = [json.loads(line) for line in cb.log.lines[marks[3] :]]
        destinations = self.net.since(net_mark)
        assert len(cb.outcomes) == outcomes + 1, "one outcome per request"
        code = cb.outcomes[-1]
        FIGURES.add(hostile_inputs=1)
        FIGURES.hostile_outcomes[code] += 1

        self._check_page(answer, code)
        assert [(r["message"], r["outcome"]) for r in lines if r.get("message") == "callback outcome"] == [
            ("callback outcome", code)
        ]
        outside = [d for d in destinations if d not in self.allowed]
        assert outside == [], f"connected to hosts outside the data-center table: {outside}"
        self._check_zoho_requests(event, zoho_requests)
        if signed_for is None:
            assert (writes, events, destinations, zoho_requests) == ([], [], [], []), code
            assert cb.snapshot() == before
            assert code != "connected"
        else:
            assert {name for _, name in writes} <= {f"{PREFIX}/connections/{signed_for}"}
            assert len(events) <= 1 and all(detail["connection"] == signed_for for _, detail in events)
        return answer

    def _check_page(self, answer: dict[str, Any], code: str) -> None:
        status, headers, body = answer["statusCode"], answer["headers"], answer["body"]
        assert code != "internal-error"
        assert (
            400 <= status < 500
            or (status == 200 and code in SUCCESS_CODES)
            or (status in CLEAN_UPSTREAM_STATUSES and code.startswith("zoho-"))
        ), (status, code)
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert {k: headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS
        assert CallbackHarness.page_code(answer) == code
        parser = _Tags()
        parser.feed(body)
        assert parser.tags <= PAGE_TAGS, parser.tags - PAGE_TAGS

    def _check_zoho_requests(self, event: dict[str, Any], requests: list[Any]) -> None:
        """Zoho was asked only at the data center the redirect names (the table's host for it)."""
        if not requests:
            return
        try:
            locations = parse_qs(event["rawQueryString"], keep_blank_values=True, errors="strict")["location"]
        except (KeyError, ValueError, UnicodeDecodeError):
            pytest.fail("Zoho was called for a redirect without one readable location")
        assert len(locations) == 1
        own = self.table[locations[0]].accounts_url
        assert {r.server for r in requests} == {own}


@pytest.fixture
def edge(zoho: Any, sm: Any, app_secrets_seeded: dict[str, Any], clock: FakeClock, hunt: LeakHunt) -> Iterator[Edge]:
    harness = CallbackHarness(zoho=zoho, sm=sm, clock=clock)
    with OutboundConnections() as net:
        bench = Edge(harness, net, hunt)
        yield bench
        bench.close()
    hunt.look_in("event", *harness.events.events)
    hunt.look_in("log line", *harness.log.lines)
    harness.close()


# ---- what attackers send --------------------------------------------------------------------------
class Slot(enum.Enum):
    """A value only the running world can make (filled in per example)."""

    SIGNED_STATE = "a state this stack signed, fresh"
    FOREIGN_STATE = "a well-formed state signed with another key"
    EXPIRED_STATE = "a state this stack signed, expired"
    TAMPERED_STATE = "a state this stack signed, one payload character changed"
    OWN_ACCOUNTS = "the accounts server of the location"
    OTHER_ACCOUNTS = "the accounts server of another data center in the table"


ATTACKER_ORIGINS = [
    "https://attacker.example",
    "http://127.0.0.1:9",
    "http://localhost:1",
    "https://accounts.zoho.com.attacker.example",
    "https://accounts.zoho.com@attacker.example",
    "https://attacker.example#@accounts.zoho.com",
    "//attacker.example",
    "https://ACCOUNTS.ZOHO.COM",
    "https://accounts.zoho.com:443/",
    "https://accounts.zoho.com/oauth/v2/token",
    "https://\u0430ccounts.zoho.com",  # Cyrillic a
    "javascript:alert(1)",
    "http://[::1]:80",
    "file:///etc/passwd",
]
TABLE_LOCATIONS = list(DataCenterTable.builtin())
LOCATIONS = [*TABLE_LOCATIONS, "US", "xx", "", "us ", "eu\x00", "../us", "com", "us&location=eu"]
KEYS = ["state", "code", "location", "accounts-server", "error", "error_description", "scope", "STATE", "code[]"]
ERRORS = ["access_denied", "invalid_request", "unauthorized_client", "server_error", ""]
COMPANION_KEYS = ["error_description", "scope", "x", "Code", "location ", "accounts_server", ""]

# Any code point, lone surrogates included: a JSON event can carry them.
any_text = st.text(st.characters(exclude_categories=()), max_size=400)
text_values = st.text(max_size=80)
byte_values = st.binary(max_size=60).map(lambda b: b.decode("latin-1"))
markup = st.sampled_from(["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</code><h2>x</h2>", "&lt;"])
long_values = st.integers(min_value=200, max_value=3000).map(lambda n: "A" * n)
hostile_value: st.SearchStrategy[Any] = st.one_of(
    text_values,
    byte_values,
    markup,
    long_values,
    st.sampled_from(ATTACKER_ORIGINS),
    st.sampled_from(LOCATIONS),
    st.sampled_from(ERRORS),
    st.sampled_from(list(Slot)),
)
hostile_key = st.one_of(st.sampled_from(KEYS), st.text(max_size=12))


def _encode_percent(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


ENCODINGS: dict[str, Callable[[list[tuple[str, str]]], str]] = {
    "form": lambda pairs: urlencode(pairs),
    "percent": _encode_percent,
    "raw": lambda pairs: "&".join(f"{k}={v}" for k, v in pairs),
    "double": lambda pairs: quote(urlencode(pairs), safe="=&"),
    "latin-1": lambda pairs: urlencode(pairs, encoding="latin-1", errors="replace"),
    "semicolons": lambda pairs: ";".join(f"{quote(k)}={quote(v)}" for k, v in pairs),
}
encoding = st.sampled_from(sorted(ENCODINGS))
decoration = st.sampled_from(["", "&", "&&", "?", "#frag", "&=", "=", "&state", "%", "%zz"])


def fill(edge: Edge, value: Any, location: str | None, connection: str) -> tuple[str, bool]:
    """A slot's value for this example, and whether it is a state this stack would accept."""
    if not isinstance(value, Slot):
        return value, False
    if value is Slot.SIGNED_STATE:
        return edge.signed_state(connection), True
    if value is Slot.FOREIGN_STATE:
        return edge.signed_state(key="another-stack-state-key-0123456789abcdef"), False
    if value is Slot.EXPIRED_STATE:
        return edge.signed_state(age=1), False
    if value is Slot.TAMPERED_STATE:
        payload, signature = edge.signed_state().split(".")
        flipped = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
        return f"{flipped}.{signature}", False
    table = edge.table
    own = table[location] if location is not None and location in table else table["us"]
    if value is Slot.OWN_ACCOUNTS:
        return own.accounts_url, False
    return next(dc.accounts_url for dc in table.values() if dc.location != own.location), False


def build_query(
    edge: Edge, pairs: list[tuple[str, Any]], how: str, prefix: str = "", suffix: str = "", connection: str = "acme"
) -> tuple[str, bool]:
    """The raw query string for ``pairs`` (slots filled), and whether it holds a state we signed."""
    location = next((v for k, v in pairs if k == "location" and isinstance(v, str)), None)
    filled = [(k, *fill(edge, v, location, connection)) for k, v in pairs]
    signed = any(ok for _, _, ok in filled)
    return prefix + ENCODINGS[how]([(k, v) for k, v, _ in filled]) + suffix, signed


# ---- the properties --------------------------------------------------------------------------------
@settings(PROOF, max_examples=examples(300))
@given(query=st.one_of(any_text, st.binary(max_size=300).map(lambda b: quote(b, safe="=&"))))
def test_any_query_string_gets_a_clean_refusal_and_touches_nothing(edge: Edge, query: str) -> None:
    edge.send(http_event(query), signed_for=None)


@settings(PROOF, max_examples=examples(400))
@given(
    state=st.one_of(
        st.sampled_from([Slot.FOREIGN_STATE, Slot.EXPIRED_STATE, Slot.TAMPERED_STATE]),
        st.sampled_from([Slot.FOREIGN_STATE, Slot.EXPIRED_STATE, Slot.TAMPERED_STATE]),
        text_values,
        st.none(),
    ),
    # Distinct keys: repeated ones are refused first, and the other properties try those.
    pairs=st.lists(
        st.tuples(hostile_key, hostile_value.filter(lambda v: v is not Slot.SIGNED_STATE)),
        max_size=8,
        unique_by=lambda pair: pair[0],
    ).map(lambda pairs: [(k, v) for k, v in pairs if k != "state"]),
    how=encoding,
    prefix=st.one_of(st.just(""), decoration),
    suffix=st.one_of(st.just(""), decoration),
)
def test_any_parameter_soup_without_a_valid_state_touches_nothing(
    edge: Edge, state: Any, pairs: list[tuple[str, Any]], how: str, prefix: str, suffix: str
) -> None:
    if state is not None:
        pairs = [("state", state), *pairs]
    query, signed = build_query(edge, pairs, how, prefix, suffix)
    assert not signed
    edge.send(http_event(query), signed_for=None)


@settings(PROOF, max_examples=examples(400))
@given(
    # Mostly locations of the table and no Zoho error, so that most requests get as far as they can.
    location=st.one_of(
        st.sampled_from(TABLE_LOCATIONS), st.sampled_from(TABLE_LOCATIONS), st.sampled_from(LOCATIONS), text_values
    ),
    accounts_server=st.one_of(
        st.none(), st.sampled_from([Slot.OWN_ACCOUNTS, Slot.OTHER_ACCOUNTS]), st.sampled_from(ATTACKER_ORIGINS)
    ),
    error=st.one_of(st.none(), st.none(), st.sampled_from(ERRORS)),
    others=st.lists(st.tuples(st.one_of(st.sampled_from(COMPANION_KEYS), text_values), hostile_value), max_size=2),
    code=st.one_of(text_values.filter(bool), long_values, st.none()),
    how=st.sampled_from(["form", "percent"]),
)
def test_a_signed_state_beside_hostile_parameters_never_reaches_a_foreign_host(
    edge: Edge,
    location: str,
    accounts_server: Any,
    error: str | None,
    others: list[tuple[str, Any]],
    code: str | None,
    how: str,
) -> None:
    pairs: list[tuple[str, Any]] = [("state", Slot.SIGNED_STATE), ("location", location), *others]
    if error is not None:
        pairs.append(("error", error))
    if code is not None:
        pairs.append(("code", code))
    if accounts_server is not None:
        pairs.append(("accounts-server", accounts_server))
    query, _ = build_query(edge, pairs, how)
    edge.send(http_event(query), signed_for="acme")


MUTATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("drop"), st.sampled_from(KEYS[:4])),
        st.tuples(st.just("repeat"), st.sampled_from(KEYS[:4])),
        st.tuples(st.just("replace"), st.sampled_from(KEYS[:4]), hostile_value),
        st.tuples(st.just("add"), hostile_key, hostile_value),
        st.tuples(st.just("flip"), st.sampled_from(KEYS[:4]), st.integers(min_value=0, max_value=400)),
        st.tuples(st.just("upper"), st.sampled_from(KEYS[:4])),
        st.tuples(st.just("reverse")),
    ),
    max_size=3,
)


def mutate(pairs: list[tuple[str, Any]], mutation: tuple[Any, ...]) -> list[tuple[str, Any]]:
    kind, *args = mutation
    if kind == "drop":
        return [(k, v) for k, v in pairs if k != args[0]]
    if kind == "repeat":
        return pairs + [(k, v) for k, v in pairs if k == args[0]]
    if kind == "replace":
        return [(k, args[1] if k == args[0] else v) for k, v in pairs]
    if kind == "add":
        return [*pairs, (args[0], args[1])]
    if kind == "flip":
        flipped: list[tuple[str, Any]] = []
        for k, v in pairs:
            if k == args[0] and isinstance(v, str) and v:
                i = args[1] % len(v)
                v = v[:i] + ("x" if v[i] != "x" else "y") + v[i + 1 :]
            flipped.append((k, v))
        return flipped
    if kind == "upper":
        return [(k.upper() if k == args[0] else k, v) for k, v in pairs]
    return list(reversed(pairs))


@settings(PROOF, max_examples=examples(150))
@given(connection=st.sampled_from(["acme", "beta", "gamma"]), mutations=MUTATIONS, how=encoding)
def test_a_mangled_real_redirect_stores_only_what_its_own_state_allows(
    edge: Edge, connection: str, mutations: list[tuple[Any, ...]], how: str
) -> None:
    original = edge.real_redirect(connection)
    state = dict(original)["state"]
    pairs: list[tuple[str, Any]] = list(original)
    for mutation in mutations:
        pairs = mutate(pairs, mutation)
    query, signed_slot = build_query(edge, pairs, how, connection=connection)
    intact = f"state={state}" in query or signed_slot
    answer = edge.send(http_event(query), signed_for=connection if intact else None)
    if answer["statusCode"] == 200 and edge.cb.outcomes[-1] == "connected":
        stored = edge.cb.secret(connection)["refresh_token"]
        assert edge.cb.zoho.refresh_token_info(stored)["revoked"] is False


METHODS = st.one_of(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "get"]),
    st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=10),
)
HEADER_NAMES = st.one_of(
    st.sampled_from(["cookie", "x-forwarded-for", "x-forwarded-host", "referer", "content-type", "authorization"]),
    st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=20),
)


@settings(PROOF, max_examples=examples(200))
@given(
    method=st.one_of(st.just("GET"), METHODS),
    headers=st.dictionaries(HEADER_NAMES, st.one_of(text_values, st.sampled_from(ATTACKER_ORIGINS)), max_size=5),
    body=st.one_of(st.none(), text_values, long_values),
    base64_body=st.booleans(),
    cookies=st.lists(text_values, max_size=3),
    with_state=st.booleans(),
)
def test_any_method_headers_and_body_get_a_page_and_only_get_may_proceed(
    edge: Edge,
    method: str,
    headers: dict[str, str],
    body: str | None,
    base64_body: bool,
    cookies: list[str],
    with_state: bool,
) -> None:
    query = urlencode({"state": edge.signed_state(), "code": "1000.x", "location": "us"}) if with_state else ""
    event = http_event(query, method, headers=headers, body=body, base64_body=base64_body, cookies=cookies)
    get = method.upper() == "GET"

    answer = edge.send(event, signed_for="acme" if with_state and get else None)

    if not get:
        assert (answer["statusCode"], answer["headers"]["Allow"]) == (405, "GET")


@settings(PROOF, max_examples=examples(50))
@given(
    size=st.integers(min_value=7_900, max_value=40_000),
    fields=st.integers(min_value=0, max_value=400),
    with_state=st.booleans(),
)
def test_huge_and_crowded_queries_are_refused_before_anything(
    edge: Edge, size: int, fields: int, with_state: bool
) -> None:
    pairs = [(f"k{i}", "v") for i in range(fields)]
    if with_state:
        pairs.append(("state", edge.signed_state()))
    query = urlencode([*pairs, ("pad", "A" * size)])

    answer = edge.send(http_event(query), signed_for=None)

    assert answer["statusCode"] in (400, 414)


CONTROL_CHARACTERS = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x1F), st.characters(min_codepoint=0x7F, max_codepoint=0x9F)
)


@settings(PROOF, max_examples=60)
@given(
    field=st.sampled_from(["connection", "sandbox"]),
    control=CONTROL_CHARACTERS,
    where=st.sampled_from(["end", "start", "middle"]),
)
# What the attack used: re.match(r"^...$") let a final newline through, and "prod\n" reached a header.
@example(field="connection", control="\n", where="end")
@example(field="sandbox", control="\n", where="end")
def test_a_signed_state_whose_names_carry_a_control_character_touches_nothing(
    edge: Edge, field: str, control: str, where: str
) -> None:
    from tests.support.constants import STATE_KEY

    names = {"connection": "acme", "sandbox": "prod"}
    value = names[field]
    names[field] = {"end": value + control, "start": control + value, "middle": value[:2] + control + value[2:]}[where]
    now = int(edge.cb.clock())
    state = LinkState(names["connection"], names["sandbox"], now, now + 900, "n0nce-for-a-control-test").sign(STATE_KEY)
    edge.hunt.secret(state)
    query = urlencode({"state": state, "code": "1000.x", "location": "us"})

    edge.send(http_event(query), signed_for=None)

    assert edge.cb.outcomes[-1] == "state-invalid"


US_ORG_ID = "700001"  # the conftest's US org
US_ADMIN = "admin@acme.example"


def _swapped(edge: Edge, link_a: str, link_b: str) -> tuple[str, str]:
    """A's admin consents to link A; the attacker brings A's code with link B's state. (query, A's own)"""
    own = edge.cb.consent(link_a, user=US_ADMIN)
    params = dict(parse_qsl(own))
    params["state"] = parse_qs(urlsplit(link_b).query)["state"][0]
    return urlencode(params), own


def test_a_code_minted_under_one_link_is_refused_with_another_links_state(edge: Edge) -> None:
    """The attack: connection B ended up holding A's org. PKCE ties the code to link A's verifier."""
    swapped, _ = _swapped(edge, edge.cb.link("acme"), edge.cb.link("beta"))

    edge.send(http_event(swapped), signed_for="beta")

    assert edge.cb.outcomes[-1] == "zoho-code-invalid"
    assert f"{PREFIX}/connections/beta" not in edge.cb.snapshot()
    edge.cb.clock.advance(61)
    assert edge.cb.connect("acme", user=US_ADMIN)["statusCode"] == 200, "link A itself still works"


def test_without_pkce_a_link_bound_to_its_org_refuses_a_swapped_code(edge: Edge) -> None:
    """Not resting on PKCE alone: with it off (a data center that refuses it), the org binding holds."""
    link_b = edge.cb.link("beta", pkce=False, zoho_org_id="700002")
    swapped, _ = _swapped(edge, edge.cb.link("acme", pkce=False), link_b)
    live = set(edge.cb.zoho.live_refresh_tokens(CLIENT_ID))

    edge.send(http_event(swapped), signed_for="beta")

    assert edge.cb.outcomes[-1] == "link-org-mismatch"
    assert f"{PREFIX}/connections/beta" not in edge.cb.snapshot()
    assert set(edge.cb.zoho.live_refresh_tokens(CLIENT_ID)) == live, "the swapped consent's token is revoked"


def test_without_pkce_or_a_binding_a_swapped_first_consent_names_the_foreign_org(edge: Edge) -> None:
    """The remaining exposure (docs/security.md): the swap lands, but the first consent says whose org it is."""
    swapped, _ = _swapped(edge, edge.cb.link("acme", pkce=False), edge.cb.link("beta", pkce=False))

    edge.send(http_event(swapped), signed_for="beta")

    assert edge.cb.outcomes[-1] == "connected"
    (detail,) = edge.cb.events.of_type(CONNECTION_AUTHORIZED)
    assert (detail["connection"], detail["zoho_org_id"], detail["zoho_org_name"]) == ("beta", US_ORG_ID, "Acme US")
    assert detail["reauthorized"] is False
    assert edge.cb.tags("beta")["zoho-aep:zoho-org-name"] == "Acme US"


def test_one_zoho_users_consents_never_silently_end_a_live_connections_token(edge: Edge) -> None:
    """The attack: the 21st consent by one Zoho user silently killed the oldest connection (Zoho keeps 20
    refresh tokens per user and client) while it stayed `active`. Now the consent that would leave the
    user no room for the next exchange is refused with a reason, and its token revoked."""
    outcomes = []
    for i in range(21):
        edge.cb.clock.advance(61)  # Zoho allows 10 grant codes per client per 10 minutes
        query = edge.cb.consent(edge.cb.link(f"conn-{i:02d}"), user=US_ADMIN)
        edge.send(http_event(query), signed_for=f"conn-{i:02d}")
        outcomes.append(edge.cb.outcomes[-1])

    assert outcomes == ["connected"] * 19 + ["zoho-user-token-limit"] * 2
    live = set(edge.cb.zoho.live_refresh_tokens(CLIENT_ID, US_ADMIN))
    stored = {edge.cb.secret(f"conn-{i:02d}")["refresh_token"] for i in range(19)}
    assert stored == live, "every stored connection's token is live, and nothing else is"
    assert {edge.cb.tags(f"conn-{i:02d}")["zoho-aep:status"] for i in range(19)} == {"active"}


def test_anonymous_requests_cannot_make_the_log_mask_what_a_real_connect_says(edge: Edge) -> None:
    """Values sent before any signature check were registered for masking: two unsigned requests made
    the next real connect log its message and its org id as ***."""
    for state, code in (("callback outcome", US_ORG_ID), ("connected", "Acme US")):
        edge.send(http_event(urlencode({"state": state, "code": code, "location": "us"})), signed_for=None)

    assert edge.cb.connect("acme", user="admin@acme.example")["statusCode"] == 200

    line = json.loads(edge.cb.log.lines[-1])
    assert (line["message"], line["outcome"], line["zoho_org_id"]) == ("callback outcome", "connected", US_ORG_ID)


def test_a_flood_of_anonymous_requests_cannot_push_the_stacks_secrets_out_of_the_mask(edge: Edge) -> None:
    """About 2,100 unsigned requests (a state and a code each) pushed the Zoho client secret out of the
    bounded masking registry; the stack's own secrets are pinned now, and nothing anonymous is registered."""
    from tests.support.constants import CLIENT_SECRET, EU_SECRET, STATE_KEY
    from zoho_aep.adapters.logs import MASK, scrub_text

    assert edge.cb.connect("acme", user="admin@acme.example")["statusCode"] == 200  # the secrets are read
    for i in range(2_500):
        edge.cb.call(urlencode({"state": f"flood-state-{i:05d}", "code": f"flood-code-{i:05d}", "location": "us"}))

    assert edge.cb.outcomes[-2_500:] == ["state-invalid"] * 2_500
    own = {"client secret": CLIENT_SECRET, "EU client secret": EU_SECRET, "state key": STATE_KEY}
    assert [name for name, value in own.items() if scrub_text(f"[{value}]") != f"[{MASK}]"] == []
    assert scrub_text("[flood-code-02499]") == "[flood-code-02499]", "anonymous values are not registered"


def test_the_edge_records_an_outbound_connection_to_a_foreign_host(edge: Edge) -> None:
    """The watch itself: a call to a host outside the table is seen (so the checks above can fail)."""
    import socket

    mark = edge.net.mark()
    with socket.socket() as sock:
        sock.settimeout(0.2)
        sock.connect_ex(("127.0.0.1", 9))
    assert edge.net.since(mark) == [("127.0.0.1", 9)]
    assert ("127.0.0.1", 9) not in edge.allowed
    assert urlsplit(edge.table["us"].accounts_url).port in {port for _, port in edge.allowed}


# ---- the connect route (where links lead first) ----------------------------------------------------
def open_link(edge: Edge, query: str, method: str = "GET") -> dict[str, Any]:
    """Send a request to ``GET /oauth/connect``; check that it wrote, sent and called nothing, and
    that it answered a clean page or a redirect to the table's Zoho consent page for a signed state."""
    cb = edge.cb
    before = cb.snapshot()
    marks = (len(edge.operations), len(cb.events.events), len(cb.zoho.requests))
    net_mark = edge.net.mark()

    answer = cb.app.handle(http_event(query, method, "/oauth/connect", "GET /oauth/connect"))

    # A redirect must carry the link's own state on to Zoho (the person has it in the address bar
    # already); everything else of every answer is searched for secrets.
    redirect = answer["statusCode"] == 302
    edge.hunt.look_in("page", answer["body"], {k: v for k, v in answer["headers"].items() if k != "Location"})
    if not redirect:
        edge.hunt.look_in("page", answer)
    code = cb.outcomes[-1]
    FIGURES.add(hostile_inputs=1)
    FIGURES.hostile_outcomes[f"connect: {code}"] += 1
    writes = [op for op in edge.operations[marks[0] :] if op[0] in WRITE_OPERATIONS]
    assert (writes, cb.events.events[marks[1] :], cb.zoho.requests[marks[2] :]) == ([], [], [])
    assert edge.net.since(net_mark) == [], "the connect route calls nobody"
    assert cb.snapshot() == before
    headers = answer["headers"]
    assert {k: headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS
    if answer["statusCode"] == 302:
        location = urlsplit(headers["Location"])
        servers = {edge.table.authorization_server(dc) for dc in edge.table}
        assert f"{location.scheme}://{location.netloc}" in servers and location.path == "/oauth/v2/auth"
        sent_state = parse_qs(query).get("state", [""])[0]
        assert parse_qs(location.query)["state"] == [sent_state]
        assert code == "link-opened"
    else:
        assert 400 <= answer["statusCode"] < 500 and code != "internal-error", (answer["statusCode"], code)
        assert CallbackHarness.page_code(answer) == code
        assert "Location" not in headers
    return answer


@settings(PROOF, max_examples=examples(200))
@given(
    drop=st.lists(st.sampled_from(["client_id", "redirect_uri", "response_type", "state", "dc", "scope"]), max_size=2),
    replace=st.lists(
        st.tuples(st.sampled_from(["client_id", "redirect_uri", "response_type", "dc", "scope", "x"]), hostile_value),
        max_size=3,
    ),
    state=st.sampled_from([Slot.SIGNED_STATE, Slot.FOREIGN_STATE, Slot.EXPIRED_STATE, Slot.TAMPERED_STATE]),
    how=st.sampled_from(["form", "percent"]),
    method=st.one_of(st.just("GET"), st.just("GET"), st.just("GET"), METHODS),
)
def test_any_connect_link_is_a_clean_page_or_a_redirect_to_zoho_and_changes_nothing(
    edge: Edge, drop: list[str], replace: list[tuple[str, Any]], state: Slot, how: str, method: str
) -> None:
    from zoho_aep.domain.links import ConnectLink, LinkState, connect_route_url

    base = connect_route_url(
        edge.cb.settings.require_callback_url(),
        ConnectLink(edge.cb.link(), LinkState("acme", "prod", 0, 0, "n"), "us"),
    )
    pairs: list[tuple[str, Any]] = [(k, v) for k, v in parse_qsl(urlsplit(base).query) if k != "state"]
    pairs.append(("state", state))
    pairs = [(k, v) for k, v in pairs if k not in drop]
    replaced = dict(replace)
    pairs = [(k, replaced.pop(k) if k in replaced else v) for k, v in pairs] + list(replaced.items())
    query, signed = build_query(edge, pairs, how)

    answer = open_link(edge, query, method)

    if answer["statusCode"] == 302:  # only a link this stack signed, sent as a GET, goes on to Zoho
        assert signed and method.upper() == "GET"
