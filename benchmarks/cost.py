"""A monthly AWS cost model per connection, from the measured calls and durations.

Prices are list prices for us-east-1 as assumed below (see ``PRICES_AS_OF``); check the AWS
pricing pages before relying on them. Free tiers are ignored (they only make small stacks cheaper).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

PRICES_AS_OF = "2025 list prices, us-east-1 (assumed, not fetched)"
SECRET_MONTH = 0.40  # Secrets Manager, per secret per month
SECRETS_PER_10K_CALLS = 0.05  # Secrets Manager API calls
LAMBDA_GB_SECOND_ARM = 0.0000133334  # Lambda arm64, per GB-second
LAMBDA_PER_MILLION_REQUESTS = 0.20
SCHEDULER_PER_MILLION = 1.00  # EventBridge Scheduler invocations
SQS_PER_MILLION = 0.40  # SQS standard requests
LOGS_PER_GB = 0.50  # CloudWatch Logs ingestion

MONTH_MINUTES = 30 * 24 * 60
APP_SECRETS = 3  # zoho-client, adobe, state-key
LOG_BYTES_PER_REFRESH = 350  # one "refresh outcome" JSON line
# Lambda's SQS event source polls the shard queue even when it is empty (long polling): about this
# many ReceiveMessage calls a month for the minimum of pollers. An estimate, stated as such.
IDLE_SQS_POLLS_PER_MONTH = 650_000


@dataclass(frozen=True)
class Inputs:
    """What the model needs; every number comes from a benchmark run or the template's defaults."""

    calls_per_refresh: float  # measured: AWS calls on a connection's secret per refresh
    refresh_seconds: float  # measured: invocation seconds per refreshed connection (wall / N)
    idle_cycle_seconds: float  # measured: a cycle where nothing is due (per 1,000 connections listed)
    memory_gb: float = 0.25  # the template's MemorySize (256 MB)
    shard_size: int = 1000  # REFRESH_SHARD_SIZE: above it the planner waits while workers refresh
    schedule_minutes: int = 10
    window_minutes: int = 20
    token_minutes: int = 60

    @property
    def refresh_interval_minutes(self) -> float:
        """A token is refreshed once it is inside the window, at the next cycle: on average then."""
        return self.token_minutes - self.window_minutes + self.schedule_minutes / 2

    @property
    def refreshes_per_month(self) -> float:
        return MONTH_MINUTES / self.refresh_interval_minutes

    @property
    def cycles_per_month(self) -> float:
        return MONTH_MINUTES / self.schedule_minutes


def monthly(inputs: Inputs, connections: int) -> dict[str, float]:
    """Dollars per month for a stack with ``connections`` connections, by item."""
    n = connections
    cycles = inputs.cycles_per_month
    refreshes = n * inputs.refreshes_per_month
    list_calls = cycles * max(1, math.ceil(n / 100))
    sm_calls = refreshes * inputs.calls_per_refresh + list_calls + cycles  # + the Zoho client read per cycle
    due_per_cycle = n * inputs.schedule_minutes / inputs.refresh_interval_minutes
    # Fanned out, the planner waits as long as its workers refresh: those seconds are paid twice.
    fan_factor = 2.0 if due_per_cycle > inputs.shard_size else 1.0
    lambda_seconds = refreshes * inputs.refresh_seconds * fan_factor + cycles * inputs.idle_cycle_seconds * max(
        1.0, n / 1000
    )
    return {
        "secrets": (n + APP_SECRETS) * SECRET_MONTH,
        "secrets_api": sm_calls / 10_000 * SECRETS_PER_10K_CALLS,
        "lambda": lambda_seconds * inputs.memory_gb * LAMBDA_GB_SECOND_ARM + cycles * LAMBDA_PER_MILLION_REQUESTS / 1e6,
        "scheduler": cycles * SCHEDULER_PER_MILLION / 1e6,
        "sqs_idle_polling": IDLE_SQS_POLLS_PER_MONTH * SQS_PER_MILLION / 1e6,
        "logs": refreshes * LOG_BYTES_PER_REFRESH / 1e9 * LOGS_PER_GB,
    }


def model(inputs: Inputs, sizes: tuple[int, ...] = (10, 100, 1_000, 10_000, 100_000)) -> dict[str, Any]:
    rows = []
    for n in sizes:
        items = monthly(inputs, n)
        total = sum(items.values())
        rows.append({"connections": n, "items": items, "total": total, "per_connection": total / n})
    return {
        "inputs": asdict(inputs),
        # What the stack costs with no connection: app secrets, the schedule, listing, idle polling.
        "fixed": sum(monthly(inputs, 0).values()),
        "refreshes_per_connection_month": inputs.refreshes_per_month,
        "cycles_per_month": inputs.cycles_per_month,
        "rows": rows,
        "prices": {
            "as_of": PRICES_AS_OF,
            "secret_month": SECRET_MONTH,
            "secrets_per_10k_calls": SECRETS_PER_10K_CALLS,
            "lambda_gb_second_arm64": LAMBDA_GB_SECOND_ARM,
            "lambda_per_million_requests": LAMBDA_PER_MILLION_REQUESTS,
            "scheduler_per_million": SCHEDULER_PER_MILLION,
            "sqs_per_million": SQS_PER_MILLION,
            "logs_per_gb": LOGS_PER_GB,
        },
    }
