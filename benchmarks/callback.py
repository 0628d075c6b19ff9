"""The OAuth callback end to end, minus Zoho's fixed delays: the product's own overhead.

Each sample is one connect: a signed state, a grant code from the Zoho emulator, and the real
handler invoked with API Gateway's payload 2.0 event. The emulator answers each of the two Zoho
calls (code exchange, org lookup) after a fixed delay; what is left after subtracting both is the
product's time: validation, Secrets Manager calls (moto, in its own process), the event, the page,
the log line. One unmeasured connect first warms the handler (app secrets read, connections open).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from benchmarks import product
from benchmarks.world import STATE_KEY, FakeContext, World, load_handler, quiet_stdout, silence

ZOHO_CALLS_PER_CONNECT = 2  # the code exchange and the org lookup


@dataclass
class CallbackMeasurement:
    delay: float
    samples_ms: list[float]  # end to end, warm
    aws_ms: list[float]  # of which inside AWS calls (moto)
    statuses: list[int]

    @property
    def upstream_ms(self) -> float:
        return ZOHO_CALLS_PER_CONNECT * self.delay * 1000

    @property
    def overhead_ms(self) -> list[float]:
        return [s - self.upstream_ms for s in self.samples_ms]

    def as_dict(self) -> dict[str, Any]:
        overhead = self.overhead_ms
        return {
            "delay_s": self.delay,
            "runs": len(self.samples_ms),
            "end_to_end_median_ms": round(statistics.median(self.samples_ms), 1),
            "overhead_median_ms": round(statistics.median(overhead), 1),
            "overhead_p90_ms": round(_quantile(overhead, 0.9), 1),
            "aws_median_ms": round(statistics.median(self.aws_ms), 1),
            "statuses": sorted(set(self.statuses)),
        }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def callback_event(query: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "ANY /oauth/callback",
        "rawPath": "/oauth/callback",
        "rawQueryString": query,
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "http": {"method": "GET", "path": "/oauth/callback", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9"},
            "requestId": "bench",
            "routeKey": "ANY /oauth/callback",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def measure(world: World, *, runs: int, delay: float, first_index: int = 500_000) -> CallbackMeasurement:
    """``runs`` warm connects (after one to warm up) of new connections through the real handler."""
    load_settings = product.get("load_settings")
    link_state = product.get("LinkState")

    handler = load_handler("oauth_callback")
    silence(handler.logger)
    accounts_url = load_settings(world.env).data_centers["us"].accounts_url
    codes = world.zoho.codes(first_index, runs + 1)
    world.zoho.set_delay(delay)
    samples: list[float] = []
    aws: list[float] = []
    statuses: list[int] = []
    try:
        for i, (_, code) in enumerate(codes):
            state = link_state.new(f"callback-{first_index + i}", "prod", time.time()).sign(STATE_KEY)
            query = urlencode({"state": state, "code": code, "location": "us", "accounts-server": accounts_url})
            world.counter.reset()
            started = time.perf_counter()
            with quiet_stdout():
                answer = handler.lambda_handler(callback_event(query), FakeContext())
            elapsed = (time.perf_counter() - started) * 1000
            statuses.append(int(answer["statusCode"]))
            if i > 0:
                samples.append(elapsed)
                aws.append(world.counter.seconds * 1000)
    finally:
        world.zoho.set_delay(0.0)
    if set(statuses) != {200}:
        raise RuntimeError(f"the callback did not connect every time: statuses {sorted(set(statuses))}")
    return CallbackMeasurement(delay=delay, samples_ms=samples, aws_ms=aws, statuses=statuses)
