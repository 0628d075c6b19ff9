"""Beyond one invocation: a cycle at realistic latencies, in one invocation and fanned out in shards.

Zoho answers each refresh after a realistic delay and every AWS call takes a realistic round trip
(moto, slowed down). The same number of due connections is refreshed twice, with fresh connections
each time: once by one invocation (the capacity of one invocation follows from its rate), once by
the planner sending shards over SQS (moto) to worker processes that run the function's
``shard_handler``, as Lambda's SQS event source would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from benchmarks import product
from benchmarks.refresh_scale import seed_connections
from benchmarks.world import ROOT, FakeContext, World, child_env, load_handler, quiet_stdout, silence


@dataclass
class RunMeasurement:
    mode: str  # "one invocation" | "fan-out"
    connections: int
    workers: int  # invocations refreshing at once
    wall_seconds: float
    refreshed: int
    shards: int
    shards_lost: int

    @property
    def rate(self) -> float:
        return self.refreshed / self.wall_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "connections": self.connections,
            "workers": self.workers,
            "wall_s": round(self.wall_seconds, 2),
            "refreshed": self.refreshed,
            "rate_per_s": round(self.rate, 1),
            "shards": self.shards,
            "shards_lost": self.shards_lost,
        }


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _workers(world: World, shard_queue_url: str, count: int, extra_env: dict[str, str]) -> Iterator[None]:
    with ExitStack() as stack:
        procs = []
        for _ in range(count):
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.fanout_worker", shard_queue_url],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
                env=child_env({**world.env, **extra_env}),
                text=True,
            )
            stack.callback(_stop, proc)
            procs.append(proc)
        for proc in procs:  # each has imported the handler and is polling
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a fan-out worker did not start")
        yield


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _cycle(world: World, env: dict[str, str], mode: str, connections: int, workers: int) -> RunMeasurement:
    with _env(env):
        handler = load_handler("token_refresh")
        silence(handler.logger)
        started = time.perf_counter()
        with quiet_stdout():
            report = handler.lambda_handler({}, FakeContext(300.0))
        wall = time.perf_counter() - started
    return RunMeasurement(
        mode=mode,
        connections=connections,
        workers=workers,
        wall_seconds=wall,
        refreshed=report["refreshed"],
        shards=report.get("shards", 0),
        shards_lost=report.get("shards_lost", 0),
    )


def measure(world: World, *, connections: int, delay: float, workers: int, first: int) -> list[RunMeasurement]:
    """One invocation, then fan-out into ``workers`` shards, each over ``connections`` due ones."""
    aws = product.get("aws")

    sqs = aws.client("sqs")
    shard_attributes = {"FifoQueue": "true", "VisibilityTimeout": "330"}  # as the template creates it
    shard_url = sqs.create_queue(QueueName="zoho-aep-refresh-shards.fifo", Attributes=shard_attributes)["QueueUrl"]
    result_url = sqs.create_queue(QueueName="zoho-aep-refresh-results")["QueueUrl"]
    shard_size = max(1, -(-connections // workers))
    results = []

    world.zoho.set_delay(0.0)
    seed_connections(world, first, connections)
    world.zoho.set_delay(delay)
    results.append(_cycle(world, {}, "one invocation", connections, 1))

    world.zoho.set_delay(0.0)
    seed_connections(world, first + connections, connections)
    fan_env = {
        "REFRESH_SHARD_QUEUE_URL": shard_url,
        "REFRESH_RESULT_QUEUE_URL": result_url,
        "REFRESH_SHARD_SIZE": str(max(100, shard_size)),
    }
    with _workers(world, shard_url, workers, {"REFRESH_RESULT_QUEUE_URL": result_url}):
        world.zoho.set_delay(delay)
        results.append(_cycle(world, fan_env, "fan-out", connections, workers))
    world.zoho.set_delay(0.0)
    return results
