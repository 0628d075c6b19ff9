"""The one HTTP client: timeouts, bounded retries on passing failures only, no redirects, capped answers.

Every outbound call of the product goes through :class:`HttpClient`. It
- refuses any URL that is not https (plain http only to loopback emulators);
- never follows a redirect (a 3xx is returned to the caller, who treats it as an error);
- gives each attempt a short connect/read timeout and the whole call a deadline;
- retries only timeouts, dropped connections and the configured statuses (5xx by default), with
  capped exponential backoff and full jitter, honouring ``Retry-After`` when asked to;
- caps the size of an answer, so a huge body cannot exhaust a Lambda's memory;
- raises nothing but the product's typed errors: every ``requests`` exception (and the ``ValueError``
  a header or URL the standard library refuses raises) is mapped to one (``tests/proof``'s property
  test throws hostile requests and raw answers at it).
``requests`` is imported on first use: it costs ~100 ms of cold start a handler may not need.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

from ..domain.errors import HostNotAllowed, OutboundRequestInvalid, UpstreamUnavailable
from ..domain.hosts import is_loopback_origin, origin_of

if TYPE_CHECKING:
    import requests

MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. The defaults suit a browser waiting on API Gateway's 29 s limit."""

    attempts: int = 3
    retry_statuses: frozenset[int] = frozenset({500, 502, 503, 504})
    connect_timeout: float = 3.05
    read_timeout: float = 8.0
    deadline: float = 20.0  # whole call, sleeps included
    backoff_base: float = 0.25
    backoff_cap: float = 2.0
    honour_retry_after: bool = False
    retry_after_cap: float = 30.0  # a longer Retry-After ends the call instead of being shortened

    def with_(self, **changes: Any) -> RetryPolicy:
        return replace(self, **changes)


@dataclass
class HttpResponse:
    """An answer, fully read (and size-capped)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not (too deeply nested included)."""
        if self._json is None:
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except RecursionError as exc:  # "[[[[..." within the size cap: not an answer we can use
                raise ValueError("The answer is nested too deeply.") from exc
        return self._json

    def json_or_none(self) -> Any:
        try:
            return self.json()
        except (ValueError, UnicodeDecodeError):
            return None

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return None


def check_url(url: str) -> str:
    """Refuse anything but https, or http to a loopback emulator."""
    origin = origin_of(url)
    if not origin or (origin.startswith("http://") and not is_loopback_origin(origin)):
        raise HostNotAllowed("Refusing to call a URL that is not https.")
    return url


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() is also true for "²", which float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):  # the header is the upstream's, any text
        return None


_local = threading.local()


def _session() -> requests.Session:
    """One ``requests.Session`` per thread (sessions are not thread-safe); pooled connections."""
    session = getattr(_local, "session", None)
    if session is None:
        import requests

        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc credentials picked up from the environment
        _local.session = session
    return session


class HttpClient:
    """Makes outbound calls under a :class:`RetryPolicy`. Time and randomness are injectable."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._monotonic = monotonic
        self._wall = wall
        self._rng = rng
        self.max_body_bytes = max_body_bytes

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        params: Mapping[str, str] | list[tuple[str, str]] | None = None,
        policy: RetryPolicy | None = None,
        before_attempt: Callable[[], None] | None = None,
        sink: IO[bytes] | None = None,
        sink_limit: int = 0,
    ) -> HttpResponse:
        """Send one logical request; retry passing failures within the policy; never follow redirects.

        Returns the last answer (any status, including a retryable one on the last attempt).
        Raises :class:`UpstreamUnavailable` when no attempt got an answer.

        With ``sink``, a 2xx answer's body is streamed into it (at most ``sink_limit`` bytes), never
        held in memory; the answer's ``body`` is then empty. Error answers are read as usual.
        """
        import requests

        check_url(url)
        unsendable = _unsendable()
        pol = policy or self.policy
        started = self._monotonic()
        last_error: UpstreamUnavailable | None = None
        for attempt in range(1, pol.attempts + 1):
            remaining = pol.deadline - (self._monotonic() - started)
            if remaining <= 0.05:
                break
            if before_attempt is not None:
                before_attempt()
            timeout = (min(pol.connect_timeout, remaining), min(pol.read_timeout, remaining))
            wait: float | None = None
            try:
                response = self._send(method, url, headers, data, json_body, params, timeout, sink, sink_limit)
            except requests.Timeout:
                last_error = UpstreamUnavailable("The upstream did not answer in time.", kind="timeout")
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                last_error = UpstreamUnavailable("The connection to the upstream failed.", kind="connection")
            except requests.exceptions.ContentDecodingError:
                # A body that does not decode as its Content-Encoding says (a garbled gzip): a passing fault.
                last_error = UpstreamUnavailable("The upstream's answer could not be decoded.", kind="garbled")
            except _TooLarge:
                raise UpstreamUnavailable("The upstream answer was too large.", kind="too-large") from None
            except unsendable:
                raise OutboundRequestInvalid("The request has an invalid header, URL or body.") from None
            except requests.RequestException:
                # Anything else requests may raise (TooManyRedirects, RetryError, ...): never untyped.
                raise UpstreamUnavailable("The call to the upstream failed.", kind="failed") from None
            except (ValueError, UnicodeError):
                # The standard library refuses some values itself (a method or header with control
                # characters, a header that is not latin-1): the request was never sent.
                raise OutboundRequestInvalid("The request has an invalid method, header or URL.") from None
            else:
                if response.status not in pol.retry_statuses or attempt == pol.attempts:
                    return response
                last_error = UpstreamUnavailable(
                    f"The upstream answered HTTP {response.status}.", kind="status", status=response.status
                )
                if pol.honour_retry_after:
                    wait = parse_retry_after(response.header("Retry-After"), self._wall())
                    if wait is not None and wait > pol.retry_after_cap:
                        # Asking again sooner than the upstream said would not be honouring it:
                        # end this call and let the caller retry later.
                        break
            if attempt == pol.attempts:
                break
            backoff = self._rng() * min(pol.backoff_cap, pol.backoff_base * (2 ** (attempt - 1)))
            delay = max(backoff, wait or 0.0)
            if self._monotonic() - started + delay >= pol.deadline:
                break
            self._sleep(delay)
        raise last_error or UpstreamUnavailable("No time was left to call the upstream.", kind="timeout")

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        json_body: Any,
        params: Mapping[str, str] | list[tuple[str, str]] | None,
        timeout: tuple[float, float],
        sink: IO[bytes] | None = None,
        sink_limit: int = 0,
    ) -> HttpResponse:
        raw = _session().request(
            method,
            url,
            headers=dict(headers or {}),
            data=data,
            json=json_body,
            params=params,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
        try:
            if sink is not None and 200 <= raw.status_code < 300:
                return self._stream(raw, url, sink, sink_limit)
            declared = raw.headers.get("Content-Length")
            if declared and declared.isascii() and declared.isdigit() and int(declared) > self.max_body_bytes:
                raise _TooLarge()
            chunks: list[bytes] = []
            size = 0
            for chunk in raw.iter_content(65536):
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise _TooLarge()
                chunks.append(chunk)
        finally:
            raw.close()
        return HttpResponse(status=raw.status_code, headers=dict(raw.headers), body=b"".join(chunks), url=url)

    @staticmethod
    def _stream(raw: Any, url: str, sink: IO[bytes], limit: int) -> HttpResponse:
        """Copy a body into ``sink`` in chunks (an attempt starts the sink afresh)."""
        sink.seek(0)
        sink.truncate()
        size = 0
        for chunk in raw.iter_content(1 << 20):
            size += len(chunk)
            if size > limit:
                raise _TooLarge()
            sink.write(chunk)
        sink.flush()
        return HttpResponse(status=raw.status_code, headers=dict(raw.headers), body=b"", url=url)


class _TooLarge(Exception):
    pass


def _unsendable() -> tuple[type[BaseException], ...]:
    """``requests``' refusals of a request it cannot build (imported on first use, like requests)."""
    from requests import exceptions as rex

    return (
        rex.InvalidHeader,
        rex.InvalidURL,
        rex.MissingSchema,
        rex.InvalidSchema,
        rex.URLRequired,
        rex.InvalidJSONError,
    )
