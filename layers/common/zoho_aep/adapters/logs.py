"""Structured logging that cannot print a secret.

Three nets, so one forgotten rule is not a leak:
1. keys that name secret material (``access_token``, ``client_secret``, ``code``, ``state`` ...) are
   masked wherever they appear in a log record, however deeply nested;
2. every secret value the process has seen (tokens read or received, the state of a verified link)
   is registered and masked in any string; the stack's own secrets (client secrets, the state key,
   the Adobe credential) are *pinned*: no number of other values can push them out;
3. strings shaped like Zoho tokens or JWTs are masked even if nobody registered them.

Nothing a request sends is registered before its state's signature holds: an anonymous request could
otherwise register "callback outcome" or an org id (and mask every line that carries them), or send
thousands of values to push the client secret out of the bounded registry. A grant code is never
registered: it is masked by its key (``code``) and by Zoho's token shape.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from typing import Any

MASK = "***"

# Keys whose values are secret wherever they appear (compared case-insensitively, '-' == '_').
SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "replaced_refresh_token",
        "revoke_pending",
        "client_secret",
        "client_secrets",
        "clientsecret",
        "accesstoken",
        "refreshtoken",
        "code",
        "state",
        "state_key",
        "token",
        "authorization",
        "password",
        "secret",
        "secretstring",
        "secret_string",
        "state_nonces",
        "x-api-key",
    }
)

_SHAPES = re.compile(
    r"1000\.[0-9a-fA-F]{16,}\.[0-9a-fA-F]{16,}"  # Zoho access/refresh tokens and grant codes
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWTs (Adobe IMS tokens)
)

_MIN_SECRET_LEN = 6
_REGISTRY_SIZE = 4096


class _SecretRegistry:
    """A thread-safe set of secret values seen by this process: a bounded part (most recent kept) and
    a pinned part for the stack's own secrets, which nothing evicts."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[str, None] = OrderedDict()
        self._pinned: dict[str, None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _worth_keeping(value: str) -> bool:
        # A token shape is masked wherever it appears (net 3). Kept out of the registry, a refresh
        # cycle that reads thousands of tokens does not make every log line scan thousands.
        return bool(value) and len(value) >= _MIN_SECRET_LEN and not _SHAPES.fullmatch(value)

    def add(self, value: str) -> None:
        if not self._worth_keeping(value):
            return
        with self._lock:
            if value in self._pinned:
                return
            self._values[value] = None
            self._values.move_to_end(value)
            while len(self._values) > self._size:
                self._values.popitem(last=False)

    def pin(self, value: str) -> None:
        if not self._worth_keeping(value):
            return
        with self._lock:
            self._pinned[value] = None
            self._values.pop(value, None)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = [*self._pinned, *self._values]
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pinned.clear()


_registry = _SecretRegistry(_REGISTRY_SIZE)


def register_secret(*values: object) -> None:
    """Remember secret values so that no log line can show them (the most recent 4,096 are kept).

    Never for values a request sent before it was authenticated (see the module's docstring).
    """
    for value in values:
        if isinstance(value, str):
            _registry.add(value)


def pin_secret(*values: object) -> None:
    """Remember the stack's own secrets (client secrets, the state key, the Adobe credential) for good."""
    for value in values:
        if isinstance(value, str):
            _registry.pin(value)


def _normalise_key(key: str) -> str:
    return key.lower().replace("-", "_")


_SENSITIVE_NORMALISED = frozenset(_normalise_key(k) for k in SENSITIVE_KEYS)


def is_sensitive_key(key: str) -> bool:
    return _normalise_key(key) in _SENSITIVE_NORMALISED


def scrub_text(text: str) -> str:
    """Mask registered secrets and token-shaped strings in ``text``."""
    return _SHAPES.sub(MASK, _registry.scrub(text))


def scrub(value: Any) -> Any:
    """A copy of ``value`` with secret keys and secret strings masked (dicts, lists, strings)."""
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and is_sensitive_key(k) else scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


# Libraries whose debug output carries request bodies (botocore logs a PutSecretValue body whole).
# They stay at WARNING even when an operator turns the root logger up to DEBUG.
_CHATTY_LIBRARIES = ("botocore", "boto3", "urllib3", "s3transfer")


def quiet_libraries() -> None:
    for name in _CHATTY_LIBRARIES:
        library = logging.getLogger(name)
        if library.getEffectiveLevel() < logging.WARNING:
            library.setLevel(logging.WARNING)


def get_logger(service: str) -> Any:
    """A Powertools ``Logger`` whose every line is scrubbed before it is written."""
    from aws_lambda_powertools import Logger

    quiet_libraries()
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class RedactingFormatter(LambdaPowertoolsFormatter):
        def serialize(self, log: Any) -> str:
            return scrub_text(super().serialize(scrub(log)))

    return Logger(service=service, logger_formatter=RedactingFormatter())
