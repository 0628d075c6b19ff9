"""The export (the Amazon S3 path) measured: records per second, memory per page, AWS calls, capacity.

Three measurements, each in the child process ``benchmarks.measure`` starts (a fresh interpreter, so
its peak memory is the export's own):

- **a page**: one connection's module holding ``records`` records, exported through the function's
  ``lambda_handler`` (a direct invoke) against moto's S3 and the Zoho emulator, both slowed to
  realistic latencies; then a change and some deletions, and the delta export. Wall time, records per
  second, the process's peak memory (Linux ``ru_maxrss``: what Lambda reports as "Max Memory Used"),
  the AWS calls by operation, the bytes stored;
- **the tick**: the schedule's invocation over ``connections`` connections and ``modules`` modules
  (listing by tags and sending one unit message each) against moto's SQS;
- **the fan-out**: units run by ``workers`` worker processes polling the unit queue, as Lambda's SQS
  event source drives ``unit_handler``: a backfill of small modules, then the delta after changes.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from benchmarks import product
from benchmarks.refresh_scale import connection_name, seed_connections
from benchmarks.world import ROOT, FakeContext, World, child_env, load_handler, quiet_stdout, silence

BUCKET = "zoho-aep-bench-export"
# Seeded tokens expire in 50 minutes: the export finds them valid (no refresh inside the measurement).
TOKEN_VALID_SECONDS = 3000
ZOHO_PAGE = 200_000  # Zoho's Bulk Read page
RECORD_AGE_SECONDS = 86_400  # seeded records were last modified a day ago (outside the delta's overlap)
# A window ends at a whole second and takes what changed before it: changes made in the second the
# export starts belong to the next window (its overlap reaches back for them). The benchmark's
# changes are made before the delta's second begins.
CHANGES_SETTLE_SECONDS = 1.2
AGE_SECONDS = 3 * 3600  # the default schedule (180 minutes) between the backfill and the delta
UNIT_VISIBILITY_SECONDS = 930  # as the template creates the unit queue (the worker's timeout + 30 s)


def export_env(modules: list[str], queue_url: str = "") -> dict[str, str]:
    """What the template sets on the export functions (the bucket, modules, the path for every connection)."""
    return {
        "EXPORT_BUCKET": BUCKET,
        "EXPORT_MODULES": ",".join(modules),
        "AEP_SOURCE_PATH": "amazon-s3",
        "EXPORT_QUEUE_URL": queue_url,
    }


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    import os

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


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _stored(s3: Any, prefix: str) -> tuple[int, int]:
    """(objects, bytes) under ``prefix``."""
    count = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            count += 1
            size += int(item["Size"])
    return count, size


def _org_of(world: World, name: str) -> str:
    value = json.loads(world.secrets().get_secret_value(SecretId=f"zoho-aep/connections/{name}")["SecretString"])
    return str(value["zoho_org_id"])


def _invoke_until_done(handler: Any, connection: str, modules: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Direct invokes until every module's window ended; (the last outcome of each, invocations)."""
    done: dict[str, dict[str, Any]] = {}
    invocations = 0
    for _ in range(20):
        left = [m for m in modules if m not in done]
        if not left:
            break
        invocations += 1
        with quiet_stdout():
            answer = handler.lambda_handler({"connection": connection, "modules": left}, FakeContext(900.0))
        for item in answer.get("exports", []):
            if item["outcome"] in ("completed", "failed"):
                done[item["module"]] = item
        if len(done) < len(modules):
            time.sleep(0.2)
    return [done[m] for m in modules if m in done], invocations


def _calls(world: World) -> dict[str, int]:
    return dict(sorted(world.counter.calls.items()))


# ---- a page --------------------------------------------------------------------------------------
def measure_page(world: World, *, records: int, delay: float, changed: int, deleted: int) -> dict[str, Any]:
    """Backfill of one module of ``records`` records (one Bulk Read page), then its delta."""
    aws = product.get("aws")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    world.counter.attach(s3)
    module = "Leads"
    seed_connections(world, 0, 1, due_in=TOKEN_VALID_SECONDS)
    name = connection_name(0)
    org = _org_of(world, name)
    world.zoho.ask(cmd="crm", page_size=ZOHO_PAGE, job_seconds=0)
    world.zoho.ask(cmd="records", org=org, module=module, count=records, age=RECORD_AGE_SECONDS)
    with _env(export_env([module])):
        handler = load_handler("zoho_export")
        silence(handler.logger)
        world.zoho.set_delay(delay)
        rss_before = peak_rss_bytes()
        world.counter.reset()
        started = time.perf_counter()
        outcomes, invocations = _invoke_until_done(handler, name, [module])
        wall = time.perf_counter() - started
        rss_peak = peak_rss_bytes()
        backfill_calls = _calls(world)
        files, stored = _stored(s3, f"zoho/{name}/{module}/")
        world.zoho.set_delay(0.0)
        churn = world.zoho.ask(cmd="churn", org=org, module=module, changed=changed, deleted=deleted)
        time.sleep(CHANGES_SETTLE_SECONDS)
        world.zoho.set_delay(delay)
        world.counter.reset()
        started = time.perf_counter()
        delta_outcomes, delta_invocations = _invoke_until_done(handler, name, [module])
        delta_wall = time.perf_counter() - started
        delta_calls = _calls(world)
        world.zoho.set_delay(0.0)
    delta_files, delta_stored = _stored(s3, f"zoho/{name}/{module}/")
    exported = outcomes[0]["records"] if outcomes else 0
    return {
        "records": records,
        "delay_s": delay,
        "outcome": outcomes[0]["outcome"] if outcomes else "unfinished",
        "exported": exported,
        "invocations": invocations,
        "wall_s": round(wall, 3),
        "records_per_s": round(exported / wall, 1) if wall else 0.0,
        "rss_before_bytes": rss_before,
        "rss_peak_bytes": rss_peak,
        "calls": backfill_calls,
        "files": files,
        "stored_bytes": stored,
        "bytes_per_record": round(stored / max(1, exported), 1),
        "delta": {
            "changed": churn["changed"],
            "deleted": churn["deleted"],
            "outcome": delta_outcomes[0]["outcome"] if delta_outcomes else "unfinished",
            "exported": delta_outcomes[0]["records"] if delta_outcomes else 0,
            "tombstones": delta_outcomes[0].get("deleted", 0) if delta_outcomes else 0,
            "invocations": delta_invocations,
            "wall_s": round(delta_wall, 3),
            "calls": delta_calls,
            "files": delta_files - files,
            "stored_bytes": delta_stored - stored,
        },
    }


# ---- the tick ------------------------------------------------------------------------------------
def _unit_queue(sqs: Any, name: str) -> str:
    attributes = {"VisibilityTimeout": str(UNIT_VISIBILITY_SECONDS)}
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _queued(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]  # fmt: skip
    return sum(int(v) for v in attributes.values())


def measure_tick(world: World, *, connections: int, modules: list[str]) -> dict[str, Any]:
    """The schedule's invocation: list ``connections`` connections by tags, send one message per unit."""
    aws = product.get("aws")
    sqs = aws.client("sqs")
    url = _unit_queue(sqs, "zoho-aep-bench-export-units")
    world.counter.attach(sqs)
    seed_connections(world, 10_000, connections, due_in=TOKEN_VALID_SECONDS)
    with _env(export_env(modules, url)):
        handler = load_handler("zoho_export")
        silence(handler.logger)
        world.counter.reset()
        started = time.perf_counter()
        with quiet_stdout():
            answer = handler.lambda_handler({}, FakeContext(900.0))
        wall = time.perf_counter() - started
    calls = _calls(world)
    sent = _queued(sqs, url)
    sqs.delete_queue(QueueUrl=url)
    return {
        "connections": connections,
        "modules": len(modules),
        "units": connections * len(modules),
        "enqueued": int(answer.get("enqueued", 0)),
        "in_queue": sent,
        "wall_s": round(wall, 3),
        "calls": calls,
    }


# ---- the fan-out ---------------------------------------------------------------------------------
@contextmanager
def _workers(world: World, queue_url: str, count: int, env: dict[str, str]) -> Iterator[list[subprocess.Popen[str]]]:
    with ExitStack() as stack:
        procs = []
        for _ in range(count):
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.export_worker", queue_url],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
                env=child_env({**world.env, **env}),
                text=True,
            )
            stack.callback(_stop, proc)
            procs.append(proc)
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("an export worker did not start")
        yield procs


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _outcomes(s3: Any, names: list[str], modules: list[str]) -> Counter[str]:
    """Each unit's last outcome, from its state object (what ``zoho-aep status`` shows)."""
    seen: Counter[str] = Counter()
    for name in names:
        for module in modules:
            try:
                body = s3.get_object(Bucket=BUCKET, Key=f"state/{name}/{module}.json")["Body"].read()
            except s3.exceptions.NoSuchKey:
                seen["none"] += 1
                continue
            last = json.loads(body).get("last") or {}
            seen[str(last.get("outcome") or "running")] += 1
    return seen


def _age_windows(s3: Any, names: list[str], modules: list[str], seconds: int) -> None:
    """Date each unit's last run ``seconds`` back, as if the schedule's interval had passed (a scheduled
    unit starts a new window only half a schedule after the last one ended). The watermark stays: the
    delta is what changed since the backfill."""
    for name in names:
        for module in modules:
            key = f"state/{name}/{module}.json"
            value = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
            last = value.get("last") or {}
            for field in ("window_end", "at"):
                if isinstance(last.get(field), int):
                    last[field] -= seconds
            s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(value).encode())


def _drain(world: World, handler: Any, url: str, names: list[str], modules: list[str], deadline_s: float) -> float:
    """Run the tick, then wait until the queue is empty; the wall seconds from the tick to the last unit."""
    aws = product.get("aws")
    sqs = aws.client("sqs")
    started = time.perf_counter()
    with quiet_stdout():
        handler.lambda_handler({}, FakeContext(900.0))
    while time.perf_counter() - started < deadline_s:
        if _queued(sqs, url) == 0:
            break
        time.sleep(0.1)
    return time.perf_counter() - started


def measure_fanout(
    world: World, *, connections: int, modules: list[str], workers: int, delay: float, records: int, changed: int
) -> dict[str, Any]:
    """A backfill, then a delta, of ``connections`` x ``modules`` units run by ``workers`` worker processes."""
    aws = product.get("aws")
    s3, sqs = aws.client("s3"), aws.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    url = _unit_queue(sqs, f"zoho-aep-bench-export-units-{workers}")
    seed_connections(world, 20_000, connections, due_in=TOKEN_VALID_SECONDS)
    names = [connection_name(20_000 + i) for i in range(connections)]
    orgs = [_org_of(world, name) for name in names]
    world.zoho.ask(cmd="crm", page_size=ZOHO_PAGE, job_seconds=0)
    for org in orgs:
        for module in modules:
            world.zoho.ask(cmd="records", org=org, module=module, count=records, age=RECORD_AGE_SECONDS)
    env = export_env(modules, url)
    runs = []
    with _env(env), _workers(world, url, workers, env):
        handler = load_handler("zoho_export")
        silence(handler.logger)
        for phase in ("backfill", "delta"):
            if phase == "delta":
                world.zoho.set_delay(0.0)
                _age_windows(s3, names, modules, AGE_SECONDS)
                for org in orgs:
                    for module in modules:
                        world.zoho.ask(cmd="churn", org=org, module=module, changed=changed, deleted=0)
                time.sleep(CHANGES_SETTLE_SECONDS)
            world.zoho.set_delay(delay)
            wall = _drain(world, handler, url, names, modules, deadline_s=1800.0)
            world.zoho.set_delay(0.0)
            outcomes = _outcomes(s3, names, modules)
            units = connections * len(modules)
            runs.append(
                {
                    "phase": phase,
                    "units": units,
                    "workers": workers,
                    "wall_s": round(wall, 2),
                    "units_per_s": round(units / wall, 2) if wall else 0.0,
                    "unit_s_per_worker": round(wall * workers / units, 2) if units else 0.0,
                    "outcomes": dict(outcomes),
                }
            )
    sqs.delete_queue(QueueUrl=url)
    return {"connections": connections, "modules": len(modules), "delay_s": delay, "records": records, "runs": runs}
