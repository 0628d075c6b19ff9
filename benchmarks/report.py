"""Turns one run's results into the table, ``docs/benchmarks.md``, ``benchmarks.png`` and ``benchmarks.json``.

Every number written comes from the results of the run; the prose around them only explains.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import cost
from benchmarks.coldstart import HANDLERS

LAMBDA_TIMEOUT_S = 300
REFRESH_RESERVE_S = 75  # the refresher starts no connection with less time left than this
TARGET_COLD_RATIO = 1.5
TARGET_CYCLE_RATIO = 1.5
TARGET_CYCLE_AT = 1_000
TARGET_CALLS = 4
TARGET_CALLBACK_MS = 50
TARGET_SIZE_BYTES = 8_000_000  # decimal MB: the stricter reading
TARGET_CONNECTIONS = 10_000
TARGET_EXPORT_MEMORY_RATIO = 1.2  # peak memory of a 200,000-record page / a 20,000-record page
EXPORT_TIMEOUT_S = 900  # the export functions' Timeout
EXPORT_RESERVE_S = 180  # a page is started only with this much time left (ExportDeps.reserve_seconds)
EXPORT_SCHEDULE_S = 180 * 60  # ExportScheduleMinutes' default
EXPORT_WORKERS_DEFAULT, EXPORT_WORKERS_MAX = 4, 50  # ExportWorkers' default and allowed maximum
EXPORT_COST_AT = 100_000  # records of the org the summary's cost row is about


@dataclass
class Row:
    measure: str
    before: str
    now: str
    target: str
    met: bool | None  # None: informative, no target

    @property
    def verdict(self) -> str:
        return "-" if self.met is None else ("met" if self.met else "MISSED")


# ---- derived numbers ------------------------------------------------------------------------------
def runs_by_size(results: dict[str, Any], which: str = "after") -> dict[int, list[dict[str, Any]]]:
    """The measured cycles per number of connections (some sizes are measured more than once)."""
    sizes: dict[int, list[dict[str, Any]]] = {}
    for cycle in results["refresh"].get(which, []):
        sizes.setdefault(cycle["connections"], []).append(cycle)
    return dict(sorted(sizes.items()))


def cycle_at(results: dict[str, Any], which: str, connections: int) -> dict[str, Any] | None:
    """The run with the median wall time / ideal among those at ``connections`` (None if none)."""
    runs = sorted(runs_by_size(results, which).get(connections, []), key=lambda c: c["ratio"])
    return runs[(len(runs) - 1) // 2] if runs else None


def medians(results: dict[str, Any], which: str = "after") -> list[dict[str, Any]]:
    """One cycle per size: the median run."""
    return [c for n in runs_by_size(results, which) if (c := cycle_at(results, which, n)) is not None]


def target_size(results: dict[str, Any]) -> int:
    """The size the cycle target is about (1,000 connections), or the largest measured (quick runs)."""
    sizes = runs_by_size(results)
    return TARGET_CYCLE_AT if TARGET_CYCLE_AT in sizes else max(sizes)


def target_cycle(results: dict[str, Any]) -> dict[str, Any]:
    cycle = cycle_at(results, "after", target_size(results))
    assert cycle is not None
    return cycle


def one_invocation(results: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in results["fanout"]["runs"] if r["mode"] == "one invocation")


def fanned_out(results: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in results["fanout"]["runs"] if r["mode"] == "fan-out")


def capacity_per_invocation(results: dict[str, Any]) -> int:
    """Connections one invocation refreshes before it stops starting new ones (timeout minus reserve)."""
    return int(one_invocation(results)["rate_per_s"] * (LAMBDA_TIMEOUT_S - REFRESH_RESERVE_S))


def cost_inputs(results: dict[str, Any]) -> cost.Inputs:
    cycle = target_cycle(results)
    one = one_invocation(results)
    return cost.Inputs(
        calls_per_refresh=cycle["connection_calls_per_refreshed"],
        refresh_seconds=one["wall_s"] / max(1, one["refreshed"]),
        idle_cycle_seconds=cycle["idle_wall_s"] * 1000 / cycle["connections"],
    )


# ---- the export ---------------------------------------------------------------------------------
def export_pages(results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the smallest page, the largest page) measured."""
    pages = sorted(results["export"]["pages"], key=lambda p: p["records"])
    return pages[0], pages[-1]


def export_memory_ratio(results: dict[str, Any]) -> float:
    small, large = export_pages(results)
    return float(large["rss_peak_bytes"]) / float(small["rss_peak_bytes"])


def export_runs(results: dict[str, Any], phase: str = "delta") -> list[dict[str, Any]]:
    """The fan-out runs of one phase, by number of workers."""
    runs = [run for item in results["export"]["fanout"] for run in item["runs"] if run["phase"] == phase]
    return sorted(runs, key=lambda r: r["workers"])


def export_unit_seconds(results: dict[str, Any]) -> float:
    """Worker seconds per delta unit at realistic latencies (the single-worker run: no contention)."""
    return float(export_runs(results)[0]["unit_s_per_worker"])


def export_units_per_tick(results: dict[str, Any], workers: int) -> int:
    """Delta units ``workers`` workers run between two ticks of the default schedule."""
    return int(workers * EXPORT_SCHEDULE_S / export_unit_seconds(results))


def export_tick_capacity(results: dict[str, Any]) -> int:
    """Units one tick invocation can list and send before its timeout (minus the reserve)."""
    tick = results["export"]["tick"]
    return int(tick["units"] / max(tick["wall_s"], 1e-3) * (EXPORT_TIMEOUT_S - EXPORT_RESERVE_S))


def export_cost_inputs(results: dict[str, Any]) -> cost.ExportInputs:
    _, large = export_pages(results)
    return cost.ExportInputs(
        delta_calls=large["delta"]["calls"],
        backfill_calls=large["calls"],
        delta_seconds=export_unit_seconds(results),
        bytes_per_record=large["bytes_per_record"],
    )


def calls_text(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])))


SERVICE_OF = {
    "PutObject": "S3", "GetObject": "S3", "HeadObject": "S3", "CopyObject": "S3", "DeleteObject": "S3",
    "ListObjectsV2": "S3", "GetSecretValue": "Secrets Manager", "DescribeSecret": "Secrets Manager",
    "TagResource": "Secrets Manager", "UntagResource": "Secrets Manager", "ListSecrets": "Secrets Manager",
    "PutSecretValue": "Secrets Manager", "PutEvents": "EventBridge", "SendMessageBatch": "SQS",
    "SendMessage": "SQS",
}  # fmt: skip


def services_text(calls: dict[str, int]) -> str:
    """Calls per AWS service, e.g. "S3 24, Secrets Manager 4, EventBridge 1"."""
    by: dict[str, int] = {}
    for operation, count in calls.items():
        service = SERVICE_OF.get(operation, operation)
        by[service] = by.get(service, 0) + count
    return ", ".join(f"{k} {v}" for k, v in sorted(by.items(), key=lambda kv: (-kv[1], kv[0])))


def export_rows(results: dict[str, Any]) -> list[Row]:
    small, large = export_pages(results)
    ratio = export_memory_ratio(results)
    zoho_ms = large["delay_s"] * 1000
    aws_ms = large["aws_latency_ms"]
    delta = large["delta"]
    one, *more = export_runs(results)
    most = more[-1] if more else one
    model = results["export_cost"]["rows"]
    at = next((r for r in model if r["records"] == EXPORT_COST_AT), model[0])
    return [
        Row(
            f"export: records per second, {large['records']:,}-record page"
            f" (Zoho {zoho_ms:.0f} ms, AWS +{aws_ms:.0f} ms)",
            "",
            f"{large['records_per_s']:,.0f}/s ({large['wall_s']:.1f} s)",
            "",
            None,
        ),
        Row(
            f"export: peak memory, {large['records']:,}-record page / {small['records']:,}-record page",
            "",
            f"{ratio:.2f}x ({mb(large['rss_peak_bytes'])} / {mb(small['rss_peak_bytes'])})",
            f"<= {TARGET_EXPORT_MEMORY_RATIO}x",
            ratio <= TARGET_EXPORT_MEMORY_RATIO,
        ),
        Row(
            f"export: AWS calls of a delta unit ({delta['exported']:,} changed, {delta['tombstones']} deleted)",
            "",
            f"{sum(delta['calls'].values())} ({services_text(delta['calls'])})",
            "",
            None,
        ),
        Row(
            f"export: the tick, {results['export']['tick']['units']:,} units listed and sent",
            "",
            f"{results['export']['tick']['wall_s']:.1f} s ({services_text(results['export']['tick']['calls'])})",
            "",
            None,
        ),
        Row(
            f"export: delta units per {EXPORT_SCHEDULE_S // 60}-minute tick, {EXPORT_WORKERS_DEFAULT} workers "
            f"({export_unit_seconds(results):.1f} s a unit)",
            "",
            f"{export_units_per_tick(results, EXPORT_WORKERS_DEFAULT):,} "
            f"(~{export_units_per_tick(results, EXPORT_WORKERS_DEFAULT) // 4:,} connections x 4 modules)",
            "",
            None,
        ),
        Row(
            f"export fan-out: {most['units']} delta units, {most['workers']} workers",
            f"{one['wall_s']:.1f} s ({one['workers']} worker)",
            f"{most['wall_s']:.1f} s ({one['wall_s'] / max(most['wall_s'], 1e-3):.1f}x faster)",
            "",
            None,
        ),
        Row(
            f"export: AWS cost per connection-month ({at['records']:,} records, 2% changed a day)",
            "",
            f"${at['total']:.3f} (+ {fmt_money(at['backfill_once'])} once for the backfill)",
            "",
            None,
        ),
    ]


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def mb(value: int) -> str:
    return f"{value / 1_000_000:.2f} MB" if value >= 100_000 else f"{value / 1000:.1f} kB"


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    cold = results["coldstart"]
    boto3 = cold["boto3"]["median_ms"]
    for function in HANDLERS:
        now = cold[function]["median_ms"]
        before = cold.get(f"{function}:before")
        out.append(
            Row(
                f"cold start {function} (import + init, x boto3 {boto3:.0f} ms)",
                f"{before['median_ms'] / boto3:.2f}x" if before else "",
                f"{now / boto3:.2f}x ({now:.0f} ms)",
                f"<= {TARGET_COLD_RATIO}x",
                now / boto3 <= TARGET_COLD_RATIO,
            )
        )
    target = target_cycle(results)
    for n, runs in runs_by_size(results).items():
        cycle = cycle_at(results, "after", n)
        assert cycle is not None
        before = cycle_at(results, "before", n)
        is_target = cycle is target
        spread = f", median of {len(runs)}: " + "/".join(f"{r['ratio']:.2f}" for r in runs) if len(runs) > 1 else ""
        before_runs = runs_by_size(results, "before").get(n, [])
        out.append(
            Row(
                f"refresh cycle, {n:,} due, wall / ideal ({cycle['ideal_s']:.2f} s)",
                f"{before['ratio']:.2f}x" + (f" (median of {len(before_runs)})" if len(before_runs) > 1 else "")
                if before
                else "",
                f"{cycle['ratio']:.2f}x ({cycle['wall_s']:.2f} s{spread})",
                f"<= {TARGET_CYCLE_RATIO}x" if is_target else "",
                cycle["ratio"] <= TARGET_CYCLE_RATIO if is_target else None,
            )
        )
    worst_calls = max(c["connection_calls_per_refreshed"] for c in results["refresh"]["after"])
    before_cycle = cycle_at(results, "before", target["connections"])
    listing = target["calls_per_refreshed"] - target["connection_calls_per_refreshed"]
    out.append(
        Row(
            "AWS calls per refreshed connection (worst size)",
            f"{before_cycle['connection_calls_per_refreshed']:.2f}" if before_cycle else "",
            f"{worst_calls:.2f} (+{listing:.3f} listing)",
            f"<= {TARGET_CALLS}",
            worst_calls <= TARGET_CALLS,
        )
    )
    idle_ok = all(c["idle_total"] == c["expected_list_calls"] and set(c["idle_calls"]) == {"ListSecrets"}
                  for c in _with_idle_total(results["refresh"]["after"]))  # fmt: skip
    biggest = max(results["refresh"]["after"], key=lambda c: c["connections"])
    idle = ", ".join(f"{k} {v}" for k, v in biggest["idle_calls"].items())
    out.append(
        Row(
            f"AWS calls of a cycle with nothing due ({biggest['connections']:,} connections)",
            "",
            f"{sum(biggest['idle_calls'].values())} ({idle})",
            f"ceil(N/100) = {biggest['expected_list_calls']} ListSecrets",
            idle_ok,
        )
    )
    cpu = target["cpu_ms_per_connection"]
    out.append(
        Row(
            "CPU per refreshed connection (this process)",
            f"{before_cycle['cpu_ms_per_connection']:.1f} ms" if before_cycle else "",
            f"{cpu:.1f} ms",
            "",
            None,
        )
    )
    callback = results["callback"]["after"]
    callback_before = results["callback"].get("before")
    out.append(
        Row(
            "callback overhead, median (end to end minus Zoho delays)",
            _ms(callback_before["overhead_median_ms"]) if callback_before else "",
            f"{_ms(callback['overhead_median_ms'])} (p90 {_ms(callback['overhead_p90_ms'])})",
            f"< {TARGET_CALLBACK_MS} ms",
            callback["overhead_median_ms"] < TARGET_CALLBACK_MS,
        )
    )
    built = results["size"]
    out.append(
        Row(
            "sam build output, unzipped (layer + functions, no boto3)",
            "",
            mb(built["total"]) if built.get("built") else "not built",
            "< 8 MB",
            built["total"] < TARGET_SIZE_BYTES if built.get("built") else None,
        )
    )
    capacity = capacity_per_invocation(results)
    one, fan = one_invocation(results), fanned_out(results)
    zoho_ms = results["fanout"]["delay_s"] * 1000
    out.append(
        Row(
            f"one invocation at Zoho {zoho_ms:.0f} ms: connections in {LAMBDA_TIMEOUT_S - REFRESH_RESERVE_S} s",
            "",
            f"{capacity:,} ({one['rate_per_s']:.1f}/s)",
            f">= {TARGET_CONNECTIONS:,}, else fan out",
            True if capacity >= TARGET_CONNECTIONS else None if fan["shards"] else False,
        )
    )
    out.append(
        Row(
            f"fan-out: {fan['connections']:,} due in {fan['shards']} shards, {fan['workers']} workers",
            f"{one['wall_s']:.1f} s (one invocation)",
            f"{fan['wall_s']:.1f} s ({fan['rate_per_s']:.1f}/s, {fan['shards_lost']} lost)",
            "",
            None,
        )
    )
    model = results["cost"]["rows"]
    per = next((r for r in model if r["connections"] == 1_000), model[0])
    out.append(
        Row(
            "AWS cost per connection per month (1,000 connections)",
            "",
            f"${per['per_connection']:.3f}",
            "",
            None,
        )
    )
    if "export" in results:
        out += export_rows(results)
    return out


def _with_idle_total(cycles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "idle_total": sum(c["idle_calls"].values())} for c in cycles]


# ---- output ---------------------------------------------------------------------------------------
def table(rows_: list[Row]) -> str:
    header = ("measure", "before", "now", "target", "")
    body = [(r.measure, r.before, r.now, r.target, r.verdict) for r in rows_]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: list[str], body: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in line) + " |" for line in body]
    return "\n".join(lines)


def publish(results: dict[str, Any], out_dir: Path) -> None:
    """Print the table, write the markdown page, the chart and the raw results."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = rows(results)
    print(table(summary))
    (out_dir / "benchmarks.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if not chart(results, out_dir / "benchmarks.png"):
        print("(no chart: matplotlib is not installed; make bench installs it)")
    from benchmarks.page import page

    (out_dir / "benchmarks.md").write_text(page(results, summary))


def chart(results: dict[str, Any], path: Path) -> bool:
    """Draw the four panels into ``path``; False when matplotlib (a bench-only dependency) is missing."""
    try:
        import matplotlib
    except ImportError:
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    cold = results["coldstart"]
    labels = ["boto3", *HANDLERS]
    now = [cold["boto3"]["median_ms"], *[cold[f]["median_ms"] for f in HANDLERS]]
    bytecode = [0.0, *[cold[f"{f}:bytecode"]["median_ms"] for f in HANDLERS]]
    before = [0.0, *[cold.get(f"{f}:before", {}).get("median_ms", 0.0) for f in HANDLERS]]
    x = range(len(labels))
    ax = axes[0][0]
    ax.bar([i - 0.27 for i in x], before, width=0.27, label="before", color="#bbbbbb")
    ax.bar(list(x), now, width=0.27, label="now (layer as shipped)", color="#3b75af")
    ax.bar([i + 0.27 for i in x], bytecode, width=0.27, label="with zoho_aep bytecode", color="#9cc3e6")
    ax.axhline(
        cold["boto3"]["median_ms"] * TARGET_COLD_RATIO, color="#c0392b", ls="--", lw=1, label="target 1.5x boto3"
    )
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("ms (median)")
    ax.set_title("Cold start: import + init")
    ax.legend(fontsize=7)

    ax = axes[0][1]
    cycles = medians(results)
    ns = [c["connections"] for c in cycles]
    ax.plot(ns, [c["wall_s"] for c in cycles], "o-", label="measured", color="#3b75af")
    ax.plot(ns, [c["ideal_s"] for c in cycles], "s--", label="ideal N x delay / pool", color="#7f7f7f")
    ax.plot(ns, [c["ideal_s"] * TARGET_CYCLE_RATIO for c in cycles], ":", label="1.5 x ideal", color="#c0392b")
    for c in medians(results, "before"):
        ax.plot([c["connections"]], [c["wall_s"]], "x", ms=10, color="#555555", label="before")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("due connections")
    ax.set_ylabel("cycle wall time (s)")
    ax.set_title(f"Refresh cycle, Zoho {results['refresh']['after'][0]['delay_s'] * 1000:.0f} ms, pool 8")
    ax.legend(fontsize=7)

    ax = axes[1][0]
    target = target_cycle(results)
    old = cycle_at(results, "before", target["connections"])
    names = ["AWS calls / refresh", "CPU ms / refresh"]
    after_values = [target["connection_calls_per_refreshed"], target["cpu_ms_per_connection"]]
    before_values = [old["connection_calls_per_refreshed"], old["cpu_ms_per_connection"]] if old else [0.0, 0.0]
    ax.bar([i - 0.2 for i in range(2)], before_values, width=0.4, label="before", color="#bbbbbb")
    ax.bar([i + 0.2 for i in range(2)], after_values, width=0.4, label="now", color="#3b75af")
    ax.set_xticks(range(2), names)
    ax.set_title(f"Per refreshed connection, {target['connections']:,} due")
    ax.legend(fontsize=7)

    ax = axes[1][1]
    runs = results["fanout"]["runs"]
    ax.bar([r["mode"] for r in runs], [r["wall_s"] for r in runs], color=["#bbbbbb", "#3b75af"])
    for i, r in enumerate(runs):
        ax.text(i, r["wall_s"], f"{r['wall_s']:.1f} s\n{r['rate_per_s']:.0f}/s", ha="center", va="bottom", fontsize=8)
    fan = fanned_out(results)
    ax.set_ylim(0, max(r["wall_s"] for r in runs) * 1.25)
    ax.set_ylabel("cycle wall time (s)")
    ax.set_title(
        f"{fan['connections']:,} due at Zoho {results['fanout']['delay_s'] * 1000:.0f} ms: "
        f"one invocation vs {fan['shards']} shards"
    )
    fig.suptitle(f"zoho-aep make bench, {results['meta']['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def fmt_money(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"
