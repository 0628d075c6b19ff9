"""The one place that decides what an origin is and whether plain http may be used (loopback only)."""

from __future__ import annotations

from urllib.parse import urlsplit

from .errors import ConfigError


def normalise_origin(url: str) -> str:
    """``scheme://host[:port]`` in lower case, without path, query or trailing slash.

    Returns "" for anything that is not an absolute http(s) URL without credentials or a path.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        return ""
    default_port = {"http": 80, "https": 443}[parts.scheme]
    netloc = parts.hostname.lower()
    if port is not None and port != default_port:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}"


def origin_of(url: str) -> str:
    """The normalised origin of any absolute http(s) URL (path and query dropped), or ""."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return normalise_origin(f"{parts.scheme}://{parts.netloc}") if parts.scheme and parts.netloc else ""


def is_loopback_origin(origin: str) -> bool:
    host = urlsplit(origin).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def check_origin(url: str, what: str) -> str:
    """Normalise ``url``; https is required except for loopback emulators. Raises ConfigError."""
    origin = normalise_origin(url)
    if not origin:
        raise ConfigError(f"{what}: not an absolute http(s) origin without path")
    if origin.startswith("http://") and not is_loopback_origin(origin):
        raise ConfigError(f"{what}: plain http is allowed only for 127.0.0.x emulators")
    return origin
