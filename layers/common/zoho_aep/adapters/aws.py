"""boto3 clients: made once per process and only when first needed (they cost ~90 ms each).

Endpoints follow the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables, which is how tests and the
local sandbox point them at moto's server.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    """A shared boto3 client with short timeouts and bounded standard-mode retries."""
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        if service not in _clients:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=3,
                read_timeout=10,
                retries={"mode": "standard", "max_attempts": 4},
                # One pooled connection per thread that may call at once: the refresh runs up to
                # 2 x REFRESH_CONCURRENCY (64) threads; a smaller pool reconnects (TLS) per call.
                max_pool_connections=128,
            )
            session: Any = boto3.session.Session()
            _clients[service] = session.client(service, config=config)
        return _clients[service]


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
