"""The ``oauth_callback`` function's edge: route an API Gateway HTTP API (payload 2.0) event to a page.

``GET /health`` answers without reading any secret. ``/oauth/callback`` accepts GET only (others get
a 405 page), checks the query's size and shape, then hands it to ``usecases.connect``.
``GET /oauth/connect`` is where connect links lead first: ``usecases.open_link`` checks the link and
the person is redirected to Zoho's consent page, or shown why the link no longer works.
Every outcome, good or bad, becomes an HTML page, one structured log line with a stable code, and a
metric by code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from ..domain.connection import MAX_CONNECTIONS_PER_ZOHO_USER, WARN_CONNECTIONS_PER_ZOHO_USER
from ..domain.errors import (
    MethodNotAllowed,
    QueryInvalid,
    QueryParameterRepeated,
    QueryTooLarge,
    ZohoAepError,
    ZohoUserTokenLimit,
    ZohoUserTokensNearLimit,
)
from ..domain.links import CONNECT_PATH
from ..usecases.connect import ConnectDeps, ConnectResult, complete_authorization
from ..usecases.open_link import open_connect_link
from .lazy import Lazy
from .pages import Page, error_page, json_answer, redirect_page, success_page

CALLBACK_PATH = "/oauth/callback"
HEALTH_PATH = "/health"
MAX_QUERY_BYTES = 8192
MAX_QUERY_FIELDS = 32
LINK_OPENED = "link-opened"  # the outcome of a connect link sent on to Zoho


def parse_callback_query(raw: str | None) -> dict[str, str]:
    """The redirect's query as a dict; refuses oversize queries and repeated parameters."""
    raw = raw or ""
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_QUERY_BYTES:
        raise QueryTooLarge("The request's query is too large.")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise QueryInvalid("The request's query cannot be read.") from exc
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise QueryParameterRepeated("A parameter appears more than once in the request.")
        params[key] = value
    return params


def _route(event: Mapping[str, Any]) -> tuple[str, str]:
    """(method, path) from a payload 2.0 event; the route key wins over the raw path (stages)."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {} if isinstance(context, dict) else {}
    method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
    route_key = event.get("routeKey")
    if isinstance(route_key, str) and " " in route_key and route_key != "$default":
        path = route_key.split(" ", 1)[1]
    else:
        path = str(event.get("rawPath") or http.get("path") or event.get("path") or "/")
    return method, path


class CallbackApp:
    """Turns events into pages. ``deps`` is built lazily: /health must not touch AWS."""

    def __init__(
        self,
        deps: Callable[[], ConnectDeps],
        *,
        logger: Any,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self._deps = Lazy(deps)
        self.logger = logger
        self.on_outcome = on_outcome

    @property
    def deps(self) -> ConnectDeps:
        return self._deps.get()

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        method, path = _route(event)
        if path.rstrip("/") == HEALTH_PATH and method in ("GET", "HEAD"):
            return json_answer(200, {"status": "ok"}).as_api_gateway()
        if path.rstrip("/") == CONNECT_PATH:
            return self._connect(event, method)
        if path.rstrip("/") != CALLBACK_PATH:
            return self._finish(error_page("not-found", 404), "not-found", {})
        started = time.monotonic()
        try:
            if method != "GET":
                raise MethodNotAllowed("Only GET is accepted here.")
            params = parse_callback_query(event.get("rawQueryString"))
            result = complete_authorization(params, self.deps)
        except ZohoAepError as exc:
            extra = {"reason": exc.code, "http_status": exc.http_status, "error": exc.message}
            headers = {"Allow": "GET"} if isinstance(exc, MethodNotAllowed) else None
            page = error_page(exc.code, exc.http_status, headers)
            return self._finish(page, exc.code, extra, started)
        except Exception:  # the edge: a bug must still end as a page and a log line, never a trace
            self.logger.exception("callback failed unexpectedly", extra={"outcome": "internal-error"})
            return self._finish(error_page("internal-error", 500), "internal-error", {}, started, logged=True)
        if not result.event_published:
            self.logger.error(
                "connection stored but the authorized event was not published; run provisioning by hand",
                extra={"outcome": "event-publish-failed", "connection": result.connection},
            )
        if result.user_connections >= WARN_CONNECTIONS_PER_ZOHO_USER:
            self._warn_user_tokens(result)
        if not result.tags_written:
            self.logger.error(
                "connection stored but its status tags could not be updated; set zoho-aep:status to active",
                extra={"outcome": "tags-not-updated", "connection": result.connection},
            )
        page = success_page(
            result.connection, result.zoho_org_name, result.zoho_org_id, result.data_center, result.reauthorized
        )
        extra = {
            "connection": result.connection,
            "data_center": result.data_center,
            "zoho_org_id": result.zoho_org_id,
            "sandbox": result.sandbox,
            "reauthorized": result.reauthorized,
            "zoho_user_id": result.zoho_user_id,
            "zoho_user_connections": result.user_connections,
        }
        return self._finish(page, "connected", extra, started)

    def _warn_user_tokens(self, result: ConnectResult) -> None:
        """Zoho keeps 20 refresh tokens per user and client: say so well before a consent is refused."""
        past = result.user_connections > MAX_CONNECTIONS_PER_ZOHO_USER  # only when the operator allows it
        message = (
            "this Zoho user holds more connections than Zoho keeps refresh tokens for; its oldest ones lose theirs"
            if past
            else "this Zoho user's connections near Zoho's 20 refresh tokens per user; consent as another user"
        )
        self.logger.warning(
            message,
            extra={
                "outcome": ZohoUserTokenLimit.code if past else ZohoUserTokensNearLimit.code,
                "connection": result.connection,
                "zoho_user_id": result.zoho_user_id,
                "zoho_user_connections": result.user_connections,
                "limit": MAX_CONNECTIONS_PER_ZOHO_USER,
            },
        )

    def _connect(self, event: Mapping[str, Any], method: str) -> dict[str, Any]:
        """A connect link: on to Zoho's consent page, or the page that says why not (nothing is written)."""
        started = time.monotonic()
        try:
            if method != "GET":
                raise MethodNotAllowed("Only GET is accepted here.")
            params = parse_callback_query(event.get("rawQueryString"))
            location = open_connect_link(params, self.deps)
        except ZohoAepError as exc:
            extra = {"reason": exc.code, "http_status": exc.http_status, "error": exc.message, "route": "connect"}
            headers = {"Allow": "GET"} if isinstance(exc, MethodNotAllowed) else None
            return self._finish(error_page(exc.code, exc.http_status, headers), exc.code, extra, started)
        except Exception:  # the edge: a bug must still end as a page and a log line, never a trace
            self.logger.exception("connect link failed unexpectedly", extra={"outcome": "internal-error"})
            return self._finish(error_page("internal-error", 500), "internal-error", {}, started, logged=True)
        return self._finish(redirect_page(location), LINK_OPENED, {"route": "connect"}, started)

    def _finish(
        self,
        page: Page,
        outcome: str,
        extra: dict[str, Any],
        started: float | None = None,
        *,
        logged: bool = False,
    ) -> dict[str, Any]:
        if not logged:
            fields = {"outcome": outcome, "http_status": page.status, **extra}
            if started is not None:
                fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            if page.status >= 500:
                self.logger.error("callback outcome", extra=fields)
            elif page.status >= 400:
                self.logger.warning("callback outcome", extra=fields)
            else:
                self.logger.info("callback outcome", extra=fields)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return page.as_api_gateway()
