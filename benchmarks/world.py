"""The benchmark's world: moto's server in a child process, the Zoho emulator, the product's handlers.

Everything listens on 127.0.0.1. The product runs in this process exactly as in Lambda: its handler
modules are imported from ``functions/*/app.py`` with the environment the template sets, and its
boto3 clients reach moto through the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import product

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "zoho-aep"
CLIENT_ID = "1000.BENCHCLIENT0001"
CLIENT_SECRET = "bench-client-secret-0000000000000000"
STATE_KEY = "bench-state-key-0123456789abcdef0123456789abcdef"
CALLBACK_URL = "http://127.0.0.1:8499/oauth/callback"


def child_env(extra: dict[str, str] | None = None, *, measured: bool = True) -> dict[str, str]:
    """The environment for a child Python process: the benchmarks and emulators importable, with the
    measured revision's layer (``measured``), or this tree's (the emulators and moto, which stay the
    same whichever revision is measured)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    layer = (product_root() if measured else ROOT) / "layers" / "common"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(layer)])
    env.update(extra or {})
    return env


@contextmanager
def _child(module: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A child Python process that serves until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env=child_env(measured=False),
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@contextmanager
def moto_server(latency_ms: float = 0.0) -> Iterator[tuple[str, int]]:
    """moto's threaded server in a child process; yields its base URL and process id."""
    with _child("benchmarks.moto_process", str(latency_ms)) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError("moto's server did not start (is moto[server] installed?)")
        yield f"http://127.0.0.1:{line}", proc.pid


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; 0.0 where /proc is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ZohoControl:
    """Talks to the Zoho emulator's child process (see ``benchmarks.zoho_process``)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc
        self.pid = proc.pid
        self._lock = threading.Lock()
        self.data_centers_json: str = self.ask(cmd="hello")["data_centers"]

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the Zoho emulator process ended")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def codes(self, first: int, count: int, dc: str = "us") -> list[tuple[str, str]]:
        """(org id, self-client grant code) for ``count`` new orgs, each with its own admin."""
        return [(org, code) for org, code in self.ask(cmd="codes", dc=dc, first=first, count=count)["codes"]]

    def set_delay(self, seconds: float) -> None:
        self.ask(cmd="delay", seconds=seconds)

    def count(self, path: str) -> int:
        return int(self.ask(cmd="count", path=path)["count"])


@contextmanager
def zoho_emulator() -> Iterator[ZohoControl]:
    with _child("benchmarks.zoho_process", CLIENT_ID, CLIENT_SECRET, CALLBACK_URL) as proc:
        yield ZohoControl(proc)


class CallCounter:
    """Counts AWS API calls made through boto3 clients (botocore's events), by operation.

    ``calls`` counts every call; ``connection_calls`` only those naming connection secrets (a
    ``SecretId`` or ``SecretIdList`` under ``/connections/``, a batch counting once), i.e. without the
    cycle's listing and app-secret reads.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.connection_calls: Counter[str] = Counter()
        self.seconds = 0.0  # time spent inside AWS calls, summed over threads
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self._clients: list[Any] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build", self._count)
        client.meta.events.register("before-call", self._before)
        client.meta.events.register("after-call", self._after)
        self._clients.append(client)

    def detach(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-parameter-build", self._count)
            client.meta.events.unregister("before-call", self._before)
            client.meta.events.unregister("after-call", self._after)
        self._clients.clear()

    def _count(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        ids = [str(params.get("SecretId", "")), *map(str, params.get("SecretIdList", []))]
        with self._lock:
            self.calls[model.name] += 1
            if any("/connections/" in secret_id for secret_id in ids):
                self.connection_calls[model.name] += 1

    def _before(self, **kwargs: Any) -> None:
        with self._lock:
            self._started[threading.get_ident()] = time.perf_counter()

    def _after(self, **kwargs: Any) -> None:
        with self._lock:
            started = self._started.pop(threading.get_ident(), None)
            if started is not None:
                self.seconds += time.perf_counter() - started

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.connection_calls.clear()
            self.seconds = 0.0

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def product_root() -> Path:
    """Whose code is measured: this tree, or another revision unpacked for a before/after comparison."""
    return Path(os.environ.get("BENCH_PRODUCT") or ROOT)


def load_handler(function: str) -> ModuleType:
    """Import ``functions/<function>/app.py`` under a unique name, as Lambda's init would."""
    path = product_root() / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"bench_{function}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Sink(io.TextIOBase):
    """Swallows text: log lines and EMF metrics are still formatted, just not shown."""

    def write(self, text: str) -> int:
        return len(text)


def silence(logger: Any) -> None:
    """Keep a handler's log lines (formatting and scrubbing still run) out of the benchmark's output."""
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(_Sink())


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Powertools prints EMF metrics on stdout; the benchmark prints only its table."""
    with contextlib.redirect_stdout(_Sink()):
        yield


class FakeContext:
    """The bits of Lambda's context object the handlers use."""

    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-request"

    def __init__(self, timeout_seconds: float = 3600.0) -> None:
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


@dataclass
class World:
    moto_url: str
    zoho: ZohoControl
    moto_pid: int
    env: dict[str, str]
    counter: CallCounter = field(default_factory=CallCounter)

    def upstream_cpu(self) -> tuple[float, float]:
        """CPU seconds used so far by moto's process and by the Zoho emulator's."""
        return cpu_seconds(self.moto_pid), cpu_seconds(self.zoho.pid)

    def secrets(self) -> Any:
        aws = product.get("aws")

        return aws.client("secretsmanager")

    def reset_aws(self) -> None:
        """Empty moto (``POST /moto-api/reset``) and put the stack's app secrets back."""
        import requests

        requests.post(f"{self.moto_url}/moto-api/reset", timeout=30).raise_for_status()
        sm = self.secrets()
        client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        sm.create_secret(Name=f"{PREFIX}/zoho-client", SecretString=json.dumps(client))
        sm.create_secret(Name=f"{PREFIX}/adobe", SecretString="{}")
        sm.create_secret(Name=f"{PREFIX}/state-key", SecretString=STATE_KEY)


@contextmanager
def world(*, refresh_concurrency: int = 8, aws_latency_ms: float = 0.0) -> Iterator[World]:
    """moto and the Zoho emulator (each in a child process) + the environment the template sets."""
    with moto_server(aws_latency_ms) as (moto_url, moto_pid), zoho_emulator() as zoho:
        env = {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_url,
            "AWS_ENDPOINT_URL_SQS": moto_url,
            "AWS_ENDPOINT_URL_S3": moto_url,
            "SECRET_PREFIX": PREFIX,
            "CALLBACK_URL": CALLBACK_URL,
            "EVENT_BUS_NAME": "default",
            "ZOHO_DATA_CENTERS_JSON": zoho.data_centers_json,
            "POWERTOOLS_METRICS_NAMESPACE": "ZohoAep",
            "REFRESH_CONCURRENCY": str(refresh_concurrency),
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        aws = product.get("aws")

        aws.reset_clients()
        the_world = World(moto_url=moto_url, zoho=zoho, moto_pid=moto_pid, env=env)
        try:
            the_world.reset_aws()
            the_world.counter.attach(aws.client("secretsmanager"))
            the_world.counter.attach(aws.client("events"))
            yield the_world
        finally:
            the_world.counter.detach()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            aws.reset_clients()
