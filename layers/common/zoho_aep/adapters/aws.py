"""boto3 clients: made once per process and only when first needed (they cost ~90 ms each).

Endpoints follow the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables, which is how tests and the
local sandbox point them at moto's server.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from ..config.parameters import LOCAL_SANDBOX
from ..domain.errors import ConfigError
from ..domain.hosts import is_loopback_origin, origin_of

_clients: dict[str, Any] = {}
_lock = threading.Lock()
# What each client gets: the functions' defaults; the CLI asks for fewer attempts (interactive()).
_options: dict[str, Any] = {"connect_timeout": 3, "read_timeout": 10, "max_attempts": 4}


def client(service: str) -> Any:
    """A shared boto3 client with short timeouts and bounded standard-mode retries."""
    existing = _clients.get(service)
    if existing is not None:
        return existing
    _check_sandbox_endpoint(service)
    with _lock:
        if service not in _clients:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=_options["connect_timeout"],
                read_timeout=_options["read_timeout"],
                retries={"mode": "standard", "max_attempts": _options["max_attempts"]},
                # One pooled connection per thread that may call at once: the refresh runs up to
                # 2 x REFRESH_CONCURRENCY (64) threads; a smaller pool reconnects (TLS) per call.
                max_pool_connections=128,
            )
            session: Any = boto3.session.Session()
            _clients[service] = session.client(service, config=config)
        return _clients[service]


# boto3's AWS_ENDPOINT_URL_<SERVICE> suffix for the services the product calls.
_ENDPOINT_VARIABLES = {"secretsmanager": "SECRETS_MANAGER", "events": "EVENTBRIDGE"}


def _check_sandbox_endpoint(service: str) -> None:
    """In a local sandbox, a client without a loopback endpoint would talk to real AWS: refuse it."""
    if not os.environ.get(str(LOCAL_SANDBOX.env), "").strip():
        return
    var = f"AWS_ENDPOINT_URL_{_ENDPOINT_VARIABLES.get(service, service.upper())}"
    endpoint = os.environ.get(var, "").strip() or os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if not endpoint or not is_loopback_origin(origin_of(endpoint)):
        raise ConfigError(f"{var}: the local sandbox needs a 127.0.0.x endpoint here, never real AWS")


@contextmanager
def interactive() -> Iterator[None]:
    """Clients for a person waiting at a terminal: an endpoint that does not answer fails within seconds
    (two attempts, a short connect timeout) instead of botocore's patient retries. Only for the clients
    made inside the block (the CLI's); they are forgotten when it ends, so nothing else in the same
    process (a local sandbox's functions, tests) inherits them."""
    with _lock:
        saved, before = dict(_options), set(_clients)
        _options.update(connect_timeout=2, max_attempts=2)
    try:
        yield
    finally:
        with _lock:
            _options.update(saved)
            for service in set(_clients) - before:
                del _clients[service]


def unreachable_endpoint(exc: BaseException | None) -> str | None:
    """The endpoint URL when ``exc`` (or what caused it) is botocore failing to reach it, else None."""
    from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)):
            return str(getattr(exc, "kwargs", {}).get("endpoint_url") or "its endpoint")
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    with _lock:
        _clients.clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or "" for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def client_errors() -> tuple[type[BaseException], ...]:
    """botocore's two failure types (imported on first use, like boto3 itself)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


class AwsAdapter:
    """Base of every adapter over one AWS service: its client is handed in (tests) or made on first use."""

    service: ClassVar[str]

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = client(self.service)
        return self._client
