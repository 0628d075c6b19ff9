"""The refresh cycle at scale: N connections in moto, Zoho answering each refresh after a fixed delay.

For each N: seed N connections that are all due (the way the callback stores them: a real code
exchange at the emulator, the contract's secret value and tags), run one
scheduled cycle through the real handler and time it next to the ideal ``N x delay / pool size``;
count the AWS calls it made; then run a second cycle, where nothing is due, and count its calls.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from benchmarks.world import CLIENT_ID, CLIENT_SECRET, PREFIX, FakeContext, World, load_handler, quiet_stdout, silence

SEED_THREADS = 16
DUE_IN_SECONDS = 300  # seeded tokens expire in 5 minutes: inside the 20-minute refresh window


@dataclass
class CycleMeasurement:
    connections: int
    delay: float
    concurrency: int
    seed_seconds: float
    wall_seconds: float
    cpu_seconds: float  # this process's CPU during the cycle (the product; moto and Zoho run elsewhere)
    moto_cpu_seconds: float  # moto's process during the cycle
    zoho_cpu_seconds: float  # the Zoho emulator's process during the cycle
    refreshed: int
    calls: dict[str, int]
    connection_calls: dict[str, int]  # of which on connection secrets (not the listing, not app secrets)
    idle_calls: dict[str, int]  # the next cycle, nothing due
    idle_wall_seconds: float

    @property
    def ideal_seconds(self) -> float:
        return self.connections * self.delay / self.concurrency

    @property
    def ratio(self) -> float:
        return self.wall_seconds / self.ideal_seconds

    @property
    def calls_per_refreshed(self) -> float:
        """Every call of the cycle, listing and app secret included, per refreshed connection."""
        return sum(self.calls.values()) / max(1, self.refreshed)

    @property
    def connection_calls_per_refreshed(self) -> float:
        """Calls on connection secrets per refreshed connection: what each refresh costs."""
        return sum(self.connection_calls.values()) / max(1, self.refreshed)

    @property
    def cpu_ms_per_connection(self) -> float:
        return self.cpu_seconds * 1000 / max(1, self.refreshed)

    @property
    def idle_total(self) -> int:
        return sum(self.idle_calls.values())

    @property
    def expected_list_calls(self) -> int:
        return math.ceil(self.connections / 100)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "delay_s": self.delay,
            "concurrency": self.concurrency,
            "seed_s": round(self.seed_seconds, 2),
            "wall_s": round(self.wall_seconds, 3),
            "ideal_s": round(self.ideal_seconds, 3),
            "ratio": round(self.ratio, 3),
            "cpu_s": round(self.cpu_seconds, 3),
            "moto_cpu_s": round(self.moto_cpu_seconds, 3),
            "zoho_cpu_s": round(self.zoho_cpu_seconds, 3),
            "refreshed": self.refreshed,
            "cpu_ms_per_connection": round(self.cpu_ms_per_connection, 2),
            "calls": dict(self.calls),
            "connection_calls": dict(self.connection_calls),
            "calls_per_refreshed": round(self.calls_per_refreshed, 3),
            "connection_calls_per_refreshed": round(self.connection_calls_per_refreshed, 3),
            "idle_calls": dict(self.idle_calls),
            "idle_wall_s": round(self.idle_wall_seconds, 3),
            "expected_list_calls": self.expected_list_calls,
        }


def connection_name(index: int) -> str:
    return f"conn-{index:06d}"


def seed_connections(world: World, first: int, count: int, *, due_in: int = DUE_IN_SECONDS) -> float:
    """Create ``count`` connection secrets as the callback stores them, all due; returns the seconds it took.

    Each gets real tokens from a code exchange at the emulator, then the secret value and tags of the
    contract (``design.md``), written directly: seeding must not depend on which revision is measured.
    """
    import requests

    started = time.perf_counter()
    table = json.loads(world.env["ZOHO_DATA_CENTERS_JSON"])["us"]
    accounts_url, api_domain = table["accounts_url"], table["api_domains"][0]
    sm = world.secrets()
    codes = world.zoho.codes(first, count)
    session = requests.Session()

    def seed_one(index: int, org_id: str, code: str) -> None:
        name = connection_name(index)
        form = {
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code": code,
        }
        tokens = session.post(f"{accounts_url}/oauth/v2/token", data=form, timeout=60).json()
        now = time.time()
        # Stored an hour minus ``due_in`` ago: the token expires within the refresh window.
        authorized = now - int(tokens["expires_in"]) + due_in
        expires = int(authorized + int(tokens["expires_in"]))
        value = {
            "schema": 1,
            "connection": name,
            "data_center": "us",
            "accounts_url": accounts_url,
            "api_domain": api_domain,
            "client_id": CLIENT_ID,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": _iso(expires),
            "scope": tokens.get("scope", ""),
            "zoho_org_id": org_id,
            "zoho_org_name": f"Bench org {index}",
            "adobe_sandbox": "prod",
            "authorized_at": _iso(authorized),
        }
        tags = {
            "zoho-aep:status": "active",
            "zoho-aep:expires-at": str(expires),
            "zoho-aep:data-center": "us",
            "zoho-aep:zoho-org-id": org_id,
            "aep:sandbox": "prod",
            "zoho-aep:managed": "true",
        }
        sm.create_secret(
            Name=f"{PREFIX}/connections/{name}",
            SecretString=json.dumps(value, separators=(",", ":"), sort_keys=True),
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )

    with ThreadPoolExecutor(max_workers=SEED_THREADS, thread_name_prefix="seed") as pool:
        futures = [pool.submit(seed_one, first + i, org, code) for i, (org, code) in enumerate(codes)]
        for future in futures:
            future.result()
    return time.perf_counter() - started


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def measure_cycle(
    world: World, handler: Any, *, connections: int, first: int, delay: float, concurrency: int
) -> CycleMeasurement:
    """Seed, then one all-due cycle and one nothing-due cycle through the real handler."""
    world.reset_aws()
    world.zoho.set_delay(0.0)
    seed_seconds = seed_connections(world, first, connections)
    world.zoho.set_delay(delay)
    world.counter.reset()
    upstream_started = world.upstream_cpu()
    cpu_started, started = time.process_time(), time.perf_counter()
    with quiet_stdout():
        report = handler.lambda_handler({}, FakeContext())
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    moto_cpu, zoho_cpu = (b - a for a, b in zip(upstream_started, world.upstream_cpu(), strict=True))
    calls, connection_calls = dict(world.counter.calls), dict(world.counter.connection_calls)
    world.counter.reset()
    started = time.perf_counter()
    with quiet_stdout():
        idle = handler.lambda_handler({}, FakeContext())
    idle_wall = time.perf_counter() - started
    idle_calls = dict(world.counter.calls)
    world.zoho.set_delay(0.0)
    if report["refreshed"] != connections or idle["due"] != 0:
        summary = {k: v for k, v in report.items() if k != "connections"}
        raise RuntimeError(f"the cycle did not refresh every connection: {json.dumps(summary)}")
    return CycleMeasurement(
        connections=connections,
        delay=delay,
        concurrency=concurrency,
        seed_seconds=seed_seconds,
        wall_seconds=wall,
        cpu_seconds=cpu,
        moto_cpu_seconds=moto_cpu,
        zoho_cpu_seconds=zoho_cpu,
        refreshed=report["refreshed"],
        calls=calls,
        connection_calls=connection_calls,
        idle_calls=idle_calls,
        idle_wall_seconds=idle_wall,
    )


def run(
    world: World, sizes: list[int], *, delay: float, concurrency: int, repeat: dict[int, int] | None = None
) -> list[CycleMeasurement]:
    """One measurement per size (``repeat[size]`` for some); each with fresh connections (Zoho limits mints)."""
    handler = load_handler("token_refresh")
    silence(handler.logger)
    results = []
    first = 0
    # Warm the handler (clients, the app secret) so the smallest size is not charged for it.
    with quiet_stdout():
        handler.lambda_handler({}, FakeContext())
    for size in sizes:
        for _ in range((repeat or {}).get(size, 1)):
            results.append(
                measure_cycle(world, handler, connections=size, first=first, delay=delay, concurrency=concurrency)
            )
            first += size
    return results
