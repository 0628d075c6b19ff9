"""Typed failures: whatever a request or an answer looks like, the HTTP client raises only the product's errors.

A garbled gzip body once raised ``requests.exceptions.ContentDecodingError`` and an invalid header
``InvalidHeader``: neither was retried, tagged or told, because the callers handle the product's
typed errors only. Hypothesis throws hostile requests (methods, URLs, headers, query parameters, form
and JSON bodies) at :class:`HttpClient` and has a raw TCP server answer with anything: garbled
encodings, broken chunks, truncated bodies, bad status lines, odd header bytes, random bytes. Every
call must end in an answer or a :class:`ZohoAepError`, and an answer's JSON reading must not raise.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.proof.conftest import PROOF
from tests.proof.figures import FIGURES
from zoho_aep.adapters.http import HttpClient, RetryPolicy
from zoho_aep.domain.errors import ZohoAepError


class RawServer:
    """Answers every connection with the bytes it is told (None: close without a word), then closes."""

    def __init__(self) -> None:
        self.answer: bytes | None = b""
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                with contextlib.suppress(OSError):
                    self._read_request(conn)
                    if self.answer is not None:
                        conn.sendall(self.answer)
                    conn.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _read_request(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 200_000:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture(scope="module")
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


def _answer(status: bytes, headers: list[bytes], body: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


JSON = b'{"ok": true}'
ANSWERS = {
    "json": _answer(b"200 OK", [b"Content-Length: 12", b"Content-Type: application/json"], JSON),
    "garbled gzip": _answer(b"200 OK", [b"Content-Encoding: gzip", b"Content-Length: 9"], b"not gzip!"),
    "garbled deflate": _answer(b"200 OK", [b"Content-Encoding: deflate", b"Content-Length: 4"], b"\x00\x01\x02\x03"),
    "gzip header, cut": _answer(b"200 OK", [b"Content-Encoding: gzip", b"Content-Length: 4"], b"\x1f\x8b\x08\x00"),
    "truncated": _answer(b"200 OK", [b"Content-Length: 100"], b"short"),
    "broken chunks": _answer(b"200 OK", [b"Transfer-Encoding: chunked"], b"zz\r\nxx\r\n"),
    "bad status line": b"HTTX/1.1 200 OK\r\n\r\n",
    "status out of range": b"HTTP/1.1 999999 Huh\r\nContent-Length: 0\r\n\r\n",
    "superscript length": _answer(b"200 OK", [b"Content-Length: \xb2"], b"{}"),
    "superscript retry-after": _answer(b"503 Busy", [b"Retry-After: \xb2", b"Content-Length: 0"], b""),
    "odd retry-after date": _answer(
        b"503 Busy", [b"Retry-After: Fri, 31 Dec 99999 0:0:0 GMT", b"Content-Length: 0"], b""
    ),
    "header line too long": _answer(b"200 OK", [b"X-Long: " + b"a" * 70_000, b"Content-Length: 0"], b""),
    "too many headers": _answer(b"200 OK", [b"X-%d: 1" % i for i in range(120)] + [b"Content-Length: 0"], b""),
    "redirect away": _answer(b"302 Found", [b"Location: https://attacker.example/", b"Content-Length: 0"], b""),
    "deep json": _answer(b"200 OK", [b"Content-Length: 60000"], b"[" * 60_000),
    "not utf-8": _answer(b"200 OK", [b"Content-Length: 4"], b"\xff\xfe\xfd\xfc"),
    "silence": b"",
    "no answer": None,
}
HOSTILE_URLS = [
    "http://127.0.0.1:1/refused",
    "http://127.0.0.1:99999/x",
    "http://[::1:bad/x",
    "https://256.256.256.256/x",
    "http://127.0.0.1:0/x",
    "https://\u0430ccounts.zoho.com/x",
    "http://localhost:1/x",
    "ftp://127.0.0.1/x",
    "https://" + "a" * 300 + ".example/x",
    "http://127.0.0.1:%34%35/x",
]
PLAIN_METHODS = st.sampled_from(["GET", "POST", "PATCH", "DELETE", "HEAD"])
METHODS = st.one_of(
    PLAIN_METHODS, PLAIN_METHODS, PLAIN_METHODS, st.sampled_from(["get", "G ET", "GET\n"]), st.text(max_size=10)
)
TEXT = st.text(max_size=40)
TOKEN = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=16)
PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
# Mostly requests a client would send, so that most examples reach the server and meet its answer.
HEADERS = st.one_of(
    st.dictionaries(TOKEN, PRINTABLE, max_size=3),
    st.dictionaries(TOKEN, PRINTABLE, max_size=3),
    st.dictionaries(TEXT, TEXT, max_size=3),
)
FIELDS = st.one_of(st.none(), st.dictionaries(TOKEN, PRINTABLE, max_size=3), st.dictionaries(TEXT, TEXT, max_size=3))
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
POLICY = RetryPolicy(
    attempts=2, connect_timeout=1.0, read_timeout=1.0, deadline=5.0, honour_retry_after=True, retry_after_cap=1.0
)


@settings(PROOF, max_examples=600)
@given(
    answer=st.one_of(st.sampled_from(sorted(ANSWERS, key=str)), st.binary(max_size=300)),
    url=st.one_of(st.just(None), st.just(None), st.sampled_from(HOSTILE_URLS)),
    path=st.one_of(TOKEN, TEXT),
    method=METHODS,
    headers=HEADERS,
    params=FIELDS,
    data=FIELDS,
    json_body=st.one_of(st.none(), st.none(), json_values),
)
@example(answer="garbled gzip", url=None, path="token", method="POST", headers={}, params=None, data={}, json_body=None)
@example(
    answer="json", url=None, path="org", method="GET", headers={"Authorization": "Zoho-oauthtoken 1000.a\nb"},
    params=None, data=None, json_body=None,
)  # fmt: skip
def test_the_http_client_raises_nothing_but_typed_errors(
    raw_server: RawServer,
    answer: Any,
    url: str | None,
    path: str,
    method: str,
    headers: dict[str, str],
    params: dict[str, str] | None,
    data: dict[str, str] | None,
    json_body: Any,
) -> None:
    raw_server.answer = ANSWERS[answer] if isinstance(answer, str) else answer
    client = HttpClient(POLICY, sleep=lambda _s: None)
    target = url or f"http://127.0.0.1:{raw_server.port}/{path}"
    outcome = "answer"

    try:
        response = client.request(method, target, headers=headers, params=params, data=data, json_body=json_body)
        response.json_or_none()
    except ZohoAepError as exc:
        outcome = exc.code

    FIGURES.add(typed_failure_inputs=1)
    FIGURES.typed_failure_outcomes[outcome] += 1
