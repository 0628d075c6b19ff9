"""Outbound connections at the socket level: where did this process try to connect, whatever the library?

Every HTTP client in the product (requests, urllib3, botocore) ends in ``socket.socket.connect``, so
watching that one method counts every outbound TCP connection, including ones a bug might open to a
host the product never meant to call. moto in-process (``mock_aws``) answers AWS calls without a
socket, so under it the only connections are the ones to the emulators.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

Endpoint = tuple[str, int]


def endpoints_of(origins: Iterable[str]) -> frozenset[Endpoint]:
    """``(host, port)`` of each ``scheme://host[:port]`` origin, with the scheme's default port."""
    found: set[Endpoint] = set()
    for origin in origins:
        parts = urlsplit(origin)
        port = parts.port or {"http": 80, "https": 443}[parts.scheme]
        found.add((parts.hostname or "", port))
    return frozenset(found)


class OutboundConnections:
    """While active, records the destination of every ``connect``/``connect_ex`` any thread makes."""

    def __init__(self) -> None:
        self.destinations: list[Endpoint] = []
        self._lock = threading.Lock()
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> OutboundConnections:
        for name in ("connect", "connect_ex"):
            original = getattr(socket.socket, name)
            self._saved[name] = original
            setattr(socket.socket, name, self._watch(original))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._saved.items():
            setattr(socket.socket, name, original)
        self._saved.clear()

    def _watch(self, original: Any) -> Any:
        def connect(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
                with self._lock:
                    self.destinations.append((str(address[0]), int(address[1])))
            return original(sock, address)

        return connect

    def mark(self) -> int:
        """A position to look from (see :meth:`since`)."""
        with self._lock:
            return len(self.destinations)

    def since(self, mark: int) -> list[Endpoint]:
        with self._lock:
            return self.destinations[mark:]
