"""moto's server in its own process, as AWS would be: ``python -m benchmarks.moto_process [LATENCY_MS]``.

Prints the port on the first line of stdout, then serves until its stdin closes. moto's known gap is
patched as in the tests (see ``local/moto_patches.py``), its secret lookups are indexed by name (see
``_index_secrets_by_name``) and its queues do not count themselves on every send
(``_send_without_counting``). Keeping moto out of the benchmark's process means its request handling
does not compete with the product for one interpreter lock.
``LATENCY_MS`` delays every AWS answer (not moto's own ``/moto-api``), like a real service's round trip.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any


def _add_latency(seconds: float) -> None:
    from moto.moto_server import threaded_moto_server

    dispatcher: Any = getattr(threaded_moto_server, "DomainDispatcherApplication")  # noqa: B009 - not exported

    class SlowDispatcher(dispatcher):  # type: ignore[misc]
        def __call__(self, environ: Any, start_response: Any) -> Any:
            if not str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
                time.sleep(seconds)
            return super().__call__(environ, start_response)

    setattr(threaded_moto_server, "DomainDispatcherApplication", SlowDispatcher)  # noqa: B010 - not exported


def _index_secrets_by_name() -> None:
    """moto finds a secret by scanning every secret (O(N) per lookup, several lookups per request).

    Secrets Manager does not slow down with the number of secrets, so the benchmark's moto should
    not either: a lookup by name (every call the product makes) is a dict lookup; ARNs still scan.
    """
    from moto.secretsmanager.models import SecretsStore

    scan_getitem, scan_contains, scan_get = SecretsStore.__getitem__, SecretsStore.__contains__, SecretsStore.get

    def getitem(self: Any, key: str) -> Any:
        return dict.__getitem__(self, key) if dict.__contains__(self, key) else scan_getitem(self, key)

    def contains(self: Any, key: object) -> bool:
        return dict.__contains__(self, key) or scan_contains(self, key)  # type: ignore[arg-type]

    def get(self: Any, key: str) -> Any:
        return dict.__getitem__(self, key) if dict.__contains__(self, key) else scan_get(self, key)

    SecretsStore.__getitem__ = getitem  # type: ignore[method-assign]
    SecretsStore.__contains__ = contains  # type: ignore[method-assign]
    SecretsStore.get = get  # type: ignore[method-assign]


def _send_without_counting() -> None:
    """moto builds every queue attribute, message counts included (a scan of the queue), for each
    message it takes: sending N messages costs O(N^2). SQS does not slow down with its queue's length,
    so while moto takes a message its counts read 0 (they are not part of what a send answers)."""
    from moto.sqs.models import Queue, SQSBackend

    sending = threading.local()
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        counted = getattr(Queue, name).fget

        def count(self: Any, _counted: Any = counted) -> int:
            return 0 if getattr(sending, "active", False) else int(_counted(self))

        setattr(Queue, name, property(count))
    send = SQSBackend.send_message

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return send(self, *args, **kwargs)
        finally:
            sending.active = False

    SQSBackend.send_message = send_message  # type: ignore[method-assign]


def main() -> None:
    from moto.server import ThreadedMotoServer

    from local import moto_patches

    moto_patches.apply()
    _index_secrets_by_name()
    _send_without_counting()
    latency_ms = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    if latency_ms > 0:
        _add_latency(latency_ms / 1000)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(port, flush=True)
    try:
        sys.stdin.read()  # the parent closes our stdin (or dies) when it is done
    finally:
        server.stop()


if __name__ == "__main__":
    main()
