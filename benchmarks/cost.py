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


# ---- the export (the Amazon S3 path) -----------------------------------------------------------
S3_PUT_PER_1000 = 0.005  # PUT, COPY, POST, LIST
S3_GET_PER_1000 = 0.0004  # GET, HEAD and the rest
S3_GB_MONTH = 0.023  # S3 Standard storage
KMS_KEY_MONTH = 1.00  # the stack's export key
KMS_PER_10K = 0.03
S3_WRITE_OPS = frozenset({"PutObject", "CopyObject", "ListObjectsV2", "CreateMultipartUpload", "UploadPart",
                          "CompleteMultipartUpload"})  # fmt: skip
S3_FREE_OPS = frozenset({"DeleteObject"})
LOG_BYTES_PER_UNIT = 600  # one "export outcome" JSON line
SQS_PER_UNIT = 3  # the tick's send (a tenth of a batch, counted whole: an upper bound), receive, delete
EXPORT_LAMBDA_GB = 1.0  # the export functions' MemorySize (1024 MB)


@dataclass(frozen=True)
class ExportInputs:
    """The export's cost per connection: measured calls and seconds per unit run, plus stated assumptions."""

    delta_calls: dict[str, int]  # measured: AWS calls of one delta unit run, by operation
    backfill_calls: dict[str, int]  # measured: AWS calls of one backfill unit run (one page)
    delta_seconds: float  # measured: worker seconds per delta unit at realistic latencies
    bytes_per_record: float  # measured: gzip CSV bytes per exported record
    modules: int = 4  # EXPORT_MODULES' default
    schedule_minutes: int = 180  # ExportScheduleMinutes' default
    retention_days: int = 30  # ExportRetentionDays' default
    changed_per_day: float = 0.02  # assumed: the share of an org's records modified (or deleted) a day
    pending_polls: int = 1  # assumed: a Bulk Read job is still running once per unit (one delayed re-run)
    files_per_delta: float = 1.0  # a delta's records file (its tombstones file only when records were deleted)

    @property
    def runs_per_month(self) -> float:
        """Unit runs a connection-month: every module at every tick."""
        return MONTH_MINUTES / self.schedule_minutes * self.modules


def _s3_requests(calls: dict[str, int]) -> tuple[int, int]:
    """(PUT-class, GET-class) requests among ``calls`` (S3 operations only; DELETE is free)."""
    s3 = {k: v for k, v in calls.items() if k in S3_WRITE_OPS or k in S3_FREE_OPS or k in {"GetObject", "HeadObject"}}
    writes = sum(v for k, v in s3.items() if k in S3_WRITE_OPS)
    reads = sum(v for k, v in s3.items() if k in {"GetObject", "HeadObject"})
    return writes, reads


def export_monthly(inputs: ExportInputs, records: int) -> dict[str, float]:
    """Dollars per connection-month in steady state for an org of ``records`` records across its modules."""
    runs = inputs.runs_per_month
    writes, reads = _s3_requests(inputs.delta_calls)
    sm_calls = sum(v for k, v in inputs.delta_calls.items() if k in {"GetSecretValue", "DescribeSecret",
                                                                     "TagResource", "UntagResource"})  # fmt: skip
    exported_per_month = records * inputs.changed_per_day * 30
    stored_bytes = records * inputs.changed_per_day * inputs.retention_days * inputs.bytes_per_record
    aep_reads = runs * inputs.files_per_delta  # AEP fetches each file once
    aep_lists = runs  # and lists each module's folder once per run
    return {
        "s3_requests": (runs * writes + aep_lists) / 1000 * S3_PUT_PER_1000
        + (runs * reads + aep_reads) / 1000 * S3_GET_PER_1000,
        "s3_storage": stored_bytes / 1e9 * S3_GB_MONTH,
        # SSE-KMS with an S3 Bucket Key calls KMS once per bucket-key period, not per object: this
        # counts one call per unit run as an upper bound.
        "kms": runs / 10_000 * KMS_PER_10K,
        "lambda": runs * (1 + inputs.pending_polls) * LAMBDA_PER_MILLION_REQUESTS / 1e6
        + runs * inputs.delta_seconds * EXPORT_LAMBDA_GB * LAMBDA_GB_SECOND_ARM,
        "sqs": runs * (1 + inputs.pending_polls) * SQS_PER_UNIT * SQS_PER_MILLION / 1e6,
        "secrets_api": runs * sm_calls / 10_000 * SECRETS_PER_10K_CALLS,
        "events_and_logs": runs * (1.0 / 1e6 + LOG_BYTES_PER_UNIT / 1e9 * LOGS_PER_GB),
        "_exported_records": exported_per_month,
    }


def backfill_once(inputs: ExportInputs, records: int) -> float:
    """Dollars for a connection's first export (a one-off): its pages' calls, its files kept for retention."""
    writes, reads = _s3_requests(inputs.backfill_calls)
    pages = max(1, math.ceil(records / inputs.modules / 200_000)) * inputs.modules
    stored = records * inputs.bytes_per_record * inputs.retention_days / 30  # kept ``retention_days``
    return pages * (writes / 1000 * S3_PUT_PER_1000 + reads / 1000 * S3_GET_PER_1000) + stored / 1e9 * S3_GB_MONTH


def export_model(inputs: ExportInputs, sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)) -> dict[str, Any]:
    rows = []
    for records in sizes:
        items = export_monthly(inputs, records)
        exported = items.pop("_exported_records")
        rows.append(
            {
                "records": records,
                "exported_per_month": exported,
                "items": items,
                "total": sum(items.values()),
                "backfill_once": backfill_once(inputs, records),
            }
        )
    return {
        "inputs": asdict(inputs),
        "runs_per_connection_month": inputs.runs_per_month,
        "fixed": KMS_KEY_MONTH,
        "rows": rows,
        "prices": {
            "s3_put_per_1000": S3_PUT_PER_1000,
            "s3_get_per_1000": S3_GET_PER_1000,
            "s3_gb_month": S3_GB_MONTH,
            "kms_key_month": KMS_KEY_MONTH,
            "kms_per_10k": KMS_PER_10K,
        },
    }
