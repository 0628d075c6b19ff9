"""``make bench``: every measurement side by side in one run; one table, ``docs/benchmarks.md`` and a chart.

Sections (each on this machine, in child processes of this one, everything on 127.0.0.1):

1. cold start of each handler next to ``import boto3``;
2. the refresh cycle at 10 / 100 / 1,000 / 5,000 connections in moto's server with Zoho answering
   after 100 ms, AWS calls counted;
3. the callback's own overhead against emulators with fixed delays;
4. a cycle at realistic latencies in one invocation and fanned out in shards;
5. the export (the Amazon S3 path): a 20,000- and a 200,000-record page, each in its own process
   (records per second, peak memory, AWS calls), the schedule's tick over many connections, and units
   fanned out to one and to several workers;
6. the size of what ``sam build`` produces;
7. a cost model from those numbers.

The product before this work (``BENCH_BASELINE``, a git revision) is measured in the same run where
it matters, so before/after are compared on the same machine at the same moment. ``BENCH_QUICK=1``
runs every code path at toy sizes (seconds to a minute) and writes under ``build/bench-quick``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from benchmarks import coldstart, cost, report, size
from benchmarks.world import ROOT

# The product as it was before this performance work (the commit the work started from).
DEFAULT_BASELINE = "5ab37cc"


@dataclass
class Config:
    quick: bool = False
    coldstart_runs: int = 15
    sizes: tuple[int, ...] = (10, 100, 1_000, 5_000)
    delay: float = 0.1  # Zoho's fixed answer delay in the scale runs
    concurrency: int = 8  # REFRESH_CONCURRENCY, the template's default
    baseline_size: int = 1_000
    target_repeats: int = 3  # the cycle at baseline_size runs this often (before and now): the median counts
    callback_runs: int = 30
    callback_delay: float = 0.05
    fanout_connections: int = 1_000
    fanout_workers: int = 4
    fanout_delay: float = 0.4  # a realistic Zoho token answer (300-500 ms)
    fanout_aws_latency_ms: float = 30.0  # a realistic Secrets Manager / SQS round trip (20-50 ms)
    export_pages: tuple[int, ...] = (20_000, 200_000)  # records in one Bulk Read page (Zoho's is 200,000)
    export_delay: float = 0.3  # a realistic Zoho CRM answer
    export_aws_latency_ms: float = 30.0
    export_changed: int = 1_000  # records changed between the backfill and the delta
    export_deleted: int = 100
    export_tick_connections: int = 1_000
    export_modules: tuple[str, ...] = ("Leads", "Contacts", "Accounts", "Deals")
    export_fanout_connections: int = 8
    export_fanout_modules: tuple[str, ...] = ("Leads", "Contacts")
    export_fanout_records: int = 200
    export_workers: tuple[int, ...] = (1, 4)  # ExportWorkers' default is 4
    baseline: str | None = DEFAULT_BASELINE
    build: bool = True
    out_dir: Path = field(default_factory=lambda: ROOT / "docs")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        quick = env.get("BENCH_QUICK", "") not in ("", "0")
        config = cls(quick=quick)
        if quick:
            config = cls(
                quick=True,
                coldstart_runs=1,
                sizes=(5, 20),
                delay=0.01,
                baseline_size=20,
                target_repeats=2,
                callback_runs=2,
                fanout_connections=101,  # just above the smallest shard size (100): two shards
                fanout_workers=2,
                fanout_delay=0.01,
                fanout_aws_latency_ms=1.0,
                export_pages=(200, 2_000),
                export_delay=0.01,
                export_aws_latency_ms=1.0,
                export_changed=20,
                export_deleted=5,
                export_tick_connections=10,
                export_fanout_connections=2,
                export_fanout_records=20,
                export_workers=(1, 2),
                build=False,
                out_dir=ROOT / "build" / "bench-quick",
            )
        baseline = env.get("BENCH_BASELINE", config.baseline or "")
        config.baseline = None if baseline in ("", "none") else baseline
        if env.get("BENCH_SKIP_BUILD", "") not in ("", "0"):
            config.build = False
        if env.get("BENCH_OUT"):
            config.out_dir = Path(env["BENCH_OUT"])
        return config


LOADS: list[float] = []  # the machine's 1-minute load average at each section's start


def log(message: str) -> None:
    LOADS.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0)
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def unpack_baseline(ref: str, target: Path) -> Path | None:
    """The product's layer and functions at ``ref`` (``git archive``), or None when git cannot."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "layers/common", "functions"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def run_child(section: str, args: dict[str, Any], product: Path, scratch: Path) -> dict[str, Any]:
    """Run ``benchmarks.measure`` for ``section`` in a fresh interpreter against ``product``."""
    out = scratch / f"{section}-{product.name}-{time.monotonic_ns()}.json"
    env = {
        **os.environ,
        "BENCH_PRODUCT": str(product),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(product / "layers" / "common")]),
    }
    subprocess.run(
        [sys.executable, "-m", "benchmarks.measure", section, json.dumps(args), str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor() or "unknown",
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def run_coldstart(config: Config, baseline: Path | None, scratch: Path) -> dict[str, Any]:
    runtime = coldstart.stage_runtime(scratch / "runtime")
    layer = coldstart.stage_layer(ROOT, scratch / "layer")
    layer_bytecode = coldstart.stage_layer(ROOT, scratch / "layer-bytecode", bytecode=True)
    targets = coldstart.bare_targets(runtime)
    for function in coldstart.HANDLERS:
        targets.append(coldstart.handler_target(function, function, ROOT, layer, runtime, function))
        targets.append(
            coldstart.handler_target(f"{function}:bytecode", function, ROOT, layer_bytecode, runtime, function)
        )
        if baseline is not None and (baseline / "functions" / function / "app.py").exists():
            old_layer = scratch / "layer-baseline"
            if not old_layer.exists():
                coldstart.stage_layer(baseline, old_layer)
            targets.append(
                coldstart.handler_target(f"{function}:before", function, baseline, old_layer, runtime, function)
            )
    return coldstart.measure(targets, config.coldstart_runs, warm_up=not config.quick)


def run_export(config: Config, scratch: Path) -> dict[str, Any]:
    """The export's measurements (this tree only: there is no export before it)."""
    latency: dict[str, Any] = {"delay": config.export_delay, "aws_latency_ms": config.export_aws_latency_ms}
    pages = []
    for records in config.export_pages:
        log(f"export: one page of {records:,} records, then a delta (Zoho {config.export_delay}s per call)")
        args = {**latency, "records": records, "changed": config.export_changed, "deleted": config.export_deleted}
        pages.append(run_child("export_page", args, ROOT, scratch))
    n, modules = config.export_tick_connections, list(config.export_modules)
    log(f"export: the schedule's tick over {n:,} connections x {len(modules)} modules")
    tick = run_child("export_tick", {"connections": n, "modules": modules, "aws_latency_ms": latency["aws_latency_ms"]},
                     ROOT, scratch)  # fmt: skip
    fanout = []
    for workers in config.export_workers:
        log(f"export: {config.export_fanout_connections} connections' units run by {workers} worker(s)")
        args = {
            **latency,
            "connections": config.export_fanout_connections,
            "modules": list(config.export_fanout_modules),
            "workers": workers,
            "records": config.export_fanout_records,
            "changed": max(1, config.export_fanout_records // 10),
        }
        fanout.append(run_child("export_fanout", args, ROOT, scratch))
    return {"pages": pages, "tick": tick, "fanout": fanout}


def main() -> None:
    config = Config.from_env()
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "quick": config.quick,
            "baseline": config.baseline,
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in config.__dict__.items()},
        }
    }
    with tempfile.TemporaryDirectory(prefix="zoho-aep-bench-") as tmp:
        scratch = Path(tmp)
        baseline = unpack_baseline(config.baseline, scratch / "baseline") if config.baseline else None
        if config.baseline and baseline is None:
            log(f"baseline {config.baseline} not available (no git history?): no before/after columns")
        results["meta"]["baseline"] = config.baseline if baseline is not None else None

        log(f"cold start: {config.coldstart_runs} fresh interpreters per target")
        results["coldstart"] = run_coldstart(config, baseline, scratch)

        log(f"refresh cycle at {', '.join(map(str, config.sizes))} connections (Zoho delay {config.delay}s)")
        scale_args = {
            "sizes": list(config.sizes),
            "delay": config.delay,
            "concurrency": config.concurrency,
            "repeat": {str(config.baseline_size): config.target_repeats},
        }
        results["refresh"] = {"after": run_child("refresh", scale_args, ROOT, scratch)["cycles"]}
        if baseline is not None:
            log(f"refresh cycle before ({config.baseline}) at {config.baseline_size} connections")
            before_args = {**scale_args, "sizes": [config.baseline_size]}
            results["refresh"]["before"] = run_child("refresh", before_args, baseline, scratch)["cycles"]

        log(f"callback overhead: {config.callback_runs} connects, Zoho delay {config.callback_delay}s per call")
        callback_args = {"runs": config.callback_runs, "delay": config.callback_delay}
        results["callback"] = {"after": run_child("callback", callback_args, ROOT, scratch)}
        if baseline is not None:
            results["callback"]["before"] = run_child("callback", callback_args, baseline, scratch)

        log(f"one invocation vs fan-out: {config.fanout_connections} connections at realistic latencies")
        fanout_args = {
            "connections": config.fanout_connections,
            "workers": config.fanout_workers,
            "delay": config.fanout_delay,
            "aws_latency_ms": config.fanout_aws_latency_ms,
        }
        results["fanout"] = run_child("fanout", fanout_args, ROOT, scratch)

        results["export"] = run_export(config, scratch)

    build_dir = ROOT / ".aws-sam" / "build"
    if config.build:
        log("sam build")
        ok, tail = size.sam_build(ROOT)
        if not ok:
            log(f"sam build failed:\n{tail}")
            shutil.rmtree(build_dir, ignore_errors=True)
    results["size"] = size.measure(build_dir)
    results["cost"] = cost.model(report.cost_inputs(results))
    results["export_cost"] = cost.export_model(report.export_cost_inputs(results))
    results["meta"]["duration_s"] = round(time.perf_counter() - started, 1)
    results["meta"]["load_average"] = [round(x, 2) for x in LOADS]
    report.publish(results, config.out_dir)
    log(f"done in {results['meta']['duration_s']} s; wrote {config.out_dir}")


if __name__ == "__main__":
    main()
