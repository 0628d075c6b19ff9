"""`make bench` cannot rot: its every code path runs here at toy sizes (BENCH_QUICK=1).

The benchmark needs nothing `make test` does not install (the chart is skipped without matplotlib).
Its output goes to a temporary directory, never over docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_benchmark_runs_end_to_end_in_quick_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "BENCH_"))} | {
        "BENCH_QUICK": "1",
        "BENCH_OUT": str(tmp_path),
        "BENCH_SKIP_BUILD": "1",
    }

    done = subprocess.run(
        [sys.executable, "-m", "benchmarks"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=280
    )

    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    assert set(results) >= {
        "meta",
        "coldstart",
        "refresh",
        "callback",
        "fanout",
        "size",
        "cost",
        "export",
        "export_cost",
    }
    assert all(c["refreshed"] == c["connections"] for c in results["refresh"]["after"])
    assert max(c["connection_calls_per_refreshed"] for c in results["refresh"]["after"]) <= 4
    fanned = next(r for r in results["fanout"]["runs"] if r["mode"] == "fan-out")
    assert fanned["shards"] >= 2 and fanned["shards_lost"] == 0 and fanned["refreshed"] == fanned["connections"]
    for exported in results["export"]["pages"]:
        assert exported["outcome"] == "completed" and exported["exported"] == exported["records"]
        assert exported["delta"]["exported"] == exported["delta"]["changed"]
        assert exported["delta"]["tombstones"] == exported["delta"]["deleted"]
    assert results["export"]["tick"]["in_queue"] == results["export"]["tick"]["units"]
    for run in (r for item in results["export"]["fanout"] for r in item["runs"]):
        assert run["outcomes"] == {"completed": run["units"]}
    page = (tmp_path / "benchmarks.md").read_text()
    for section in (
        "## Summary",
        "## Cold start",
        "## Refresh cycle at scale",
        "## Cost model",
        "## Beyond",
        "## The export",
    ):
        assert section in page
    assert "cold start oauth_callback" in done.stdout and "callback overhead" in done.stdout
    assert "export: peak memory" in done.stdout
