"""The fan-out planner: a refresh cycle too large for one invocation, sent out in shards and gathered again.

The scheduled token refresh function is the **planner**. It lists and selects from tags as always;
when more connections are due than ``REFRESH_SHARD_SIZE``, it sends them in shards (``messages``)
to the shard queue. Worker invocations (the queue's event source, at most ``RefreshShardWorkers``
at once) refresh each shard with the per-connection code a single invocation runs, and answer on
the result queue. The planner waits for every shard's result and reports the cycle as one.

Why every guarantee of a single invocation holds:

- **No secret read for a connection that is not due.** Shards carry only the due connections, with
  the tags the listing showed; workers never list.
- **Mint budget, compare-and-swap, isolation** live in the per-connection refresh, shared as is.
- **Cycles never overlap.** Each shard carries the planner's deadline (``not_after``: the planner's
  own end minus a margin). A worker starts a connection only while the refresh reserve still fits
  before it, so all of a cycle's work ends before the planner returns, and the planner keeps reserved
  concurrency 1: the next cycle, or a manual invoke, cannot start before. A shard that arrives late
  (a throttled worker, a redelivery) finds its deadline passed and defers everything without reading
  a secret; the next cycle takes those connections from their tags.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...adapters.sqs import RECEIVE_WAIT_SECONDS, ShardQueues
from ...domain.connection import TAG_STATUS, ConnectionSummary
from ...domain.errors import RefreshShardInvalid, ZohoAepError
from .messages import Shard, ShardResult, make_shards
from .outcomes import ConnectionOutcome, deferred


@dataclass
class FanOut:
    """How a planner fans out: where to, how big a shard, how much time to keep for itself."""

    queues: ShardQueues
    shard_size: int = 1000
    can_plan: bool = True  # False for workers: they answer results but never send shards
    margin_seconds: float = 10.0  # between the workers' deadline and the planner's own end
    budget_seconds: float = 240.0  # the planner's time when no invocation deadline is known
    new_cycle_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)

    def takes(self, due: int) -> bool:
        """Whether a cycle with ``due`` connections is sent out in shards."""
        return self.can_plan and due > self.shard_size


@dataclass
class ShardedRun:
    """What a fanned-out cycle came back with: one outcome per due connection, and the shard counts."""

    outcomes: list[ConnectionOutcome] = field(default_factory=list)
    shards: int = 0
    lost: int = 0


def run_in_shards(
    fan: FanOut,
    due: list[ConnectionSummary],
    *,
    force: bool,
    time_left: Callable[[], float] | None,
    clock: Callable[[], float],
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    logger: Any,
) -> ShardedRun:
    """Send ``due`` out in shards, wait for every result, and return their outcomes.

    Outcomes were logged by the workers (one line per connection, in the same log group), so they
    are not logged again here. A shard without a result by the deadline is reported lost and its
    connections deferred: the next cycle takes them from their tags.
    """
    started = monotonic()
    budget = time_left() if time_left is not None else fan.budget_seconds

    def remaining() -> float:
        return budget - (monotonic() - started)

    cycle = fan.new_cycle_id()
    shards = make_shards(cycle, due, force=force, not_after=clock() + budget - fan.margin_seconds, size=fan.shard_size)
    run = ShardedRun(shards=len(shards))
    pending: dict[int, Shard] = {}
    for shard in shards:
        try:
            fan.queues.send_shard(shard.to_message(), f"{cycle}-{shard.index}")
        except ZohoAepError as exc:
            logger.error("refresh shard not sent", extra={"outcome": "shard-lost", "reason": exc.code})
            _lose(run, shard)
            continue
        pending[shard.index] = shard
    # Bounded by the invocation's time: each receive waits at most RECEIVE_WAIT_SECONDS.
    while pending and remaining() > 2.0:
        try:
            messages = fan.queues.receive_results(int(min(RECEIVE_WAIT_SECONDS, remaining() - 2.0)))
        except ZohoAepError as exc:
            logger.warning("shard results not received", extra={"reason": exc.code})
            sleep(1.0)
            continue
        for body, receipt in messages:
            _take_result(fan, logger, run, pending, cycle, body, receipt)
    for shard in pending.values():
        logger.error(
            "refresh shard lost",
            extra={"outcome": "shard-lost", "shard": shard.index, "connections": len(shard.connections)},
        )
        _lose(run, shard)
    return run


def _take_result(
    fan: FanOut, logger: Any, run: ShardedRun, pending: dict[int, Shard], cycle: str, body: str, receipt: str
) -> None:
    try:
        result: ShardResult | None = ShardResult.from_message(body)
    except RefreshShardInvalid as exc:
        logger.warning("shard result dropped", extra={"reason": exc.code})
        result = None
    try:
        fan.queues.delete_result(receipt)
    except ZohoAepError as exc:
        # It comes back after its visibility timeout and is then ignored as already accounted for.
        logger.warning("shard result not deleted", extra={"reason": exc.code})
    shard = pending.get(result.index) if result is not None and result.cycle == cycle else None
    if shard is None or result is None:
        return  # a late answer from an earlier cycle, or a duplicate: already accounted for
    del pending[result.index]
    answered = {o.connection: o for o in result.outcomes}
    for summary in shard.connections:
        run.outcomes.append(answered.get(summary.name) or deferred(summary.name, summary.tags.get(TAG_STATUS)))


def _lose(run: ShardedRun, shard: Shard) -> None:
    run.lost += 1
    run.outcomes += [deferred(s.name, s.tags.get(TAG_STATUS)) for s in shard.connections]
