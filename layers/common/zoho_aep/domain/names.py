"""Names: the ones people type (connections, AEP sandboxes) checked, and the ones AEP objects get."""

from __future__ import annotations

import re

from .errors import InvalidConnectionName, InvalidSandboxName

# Whole-value matches only (``fullmatch``): with ``re.match``, "$" also matches before a final newline.
_CONNECTION = re.compile(r"[a-z0-9-]{1,64}")
_SANDBOX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def check_connection_name(name: object) -> str:
    """Lower-case letters, digits and dashes, 1-64 characters (it becomes part of a secret name)."""
    if not isinstance(name, str) or not _CONNECTION.fullmatch(name):
        raise InvalidConnectionName("Connection names are 1-64 lower-case letters, digits and dashes.")
    return name


def check_sandbox_name(name: object) -> str:
    """An AEP sandbox name: lower-case letters, digits and dashes (Adobe's header is lower-case)."""
    if not isinstance(name, str) or not _SANDBOX.fullmatch(name):
        raise InvalidSandboxName("AEP sandbox names are 1-64 lower-case letters, digits and dashes, e.g. prod.")
    return name


def base_connection_name(prefix: str, connection: str) -> str:
    """The native Zoho CRM base connection's name: stable per stack and connection, so it can be found again."""
    return f"{prefix} {connection}"
