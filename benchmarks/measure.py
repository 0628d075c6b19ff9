"""One measurement in a child process: ``python -m benchmarks.measure SECTION ARGS_JSON OUT_JSON``.

The orchestrator (``benchmarks.run``) runs each section in a fresh interpreter whose ``PYTHONPATH``
and ``BENCH_PRODUCT`` point at the product being measured (this tree, or an earlier revision for a
before/after comparison), so the two never share imported modules.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def refresh(args: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import refresh_scale
    from benchmarks.world import world

    with world(refresh_concurrency=args["concurrency"]) as the_world:
        repeat = {int(size): int(times) for size, times in args.get("repeat", {}).items()}
        cycles = refresh_scale.run(
            the_world, args["sizes"], delay=args["delay"], concurrency=args["concurrency"], repeat=repeat
        )
    return {"cycles": [c.as_dict() for c in cycles]}


def callback(args: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import callback as callback_bench
    from benchmarks.world import world

    with world() as the_world:
        return callback_bench.measure(the_world, runs=args["runs"], delay=args["delay"]).as_dict()


def fanout(args: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import fanout_bench
    from benchmarks.world import world

    with world(aws_latency_ms=args["aws_latency_ms"]) as the_world:
        runs = fanout_bench.measure(
            the_world, connections=args["connections"], delay=args["delay"], workers=args["workers"], first=0
        )
    return {"runs": [r.as_dict() for r in runs], "delay_s": args["delay"], "aws_latency_ms": args["aws_latency_ms"]}


def export_page(args: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import export_bench
    from benchmarks.world import world

    with world(aws_latency_ms=args["aws_latency_ms"]) as the_world:
        result = export_bench.measure_page(
            the_world, records=args["records"], delay=args["delay"], changed=args["changed"], deleted=args["deleted"]
        )
    return {**result, "aws_latency_ms": args["aws_latency_ms"]}


def export_tick(args: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import export_bench
    from benchmarks.world import world

    with world(aws_latency_ms=args["aws_latency_ms"]) as the_world:
        result = export_bench.measure_tick(the_world, connections=args["connections"], modules=args["modules"])
    return {**result, "aws_latency_ms": args["aws_latency_ms"]}


def export_fanout(args: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import export_bench
    from benchmarks.world import world

    with world(aws_latency_ms=args["aws_latency_ms"]) as the_world:
        result = export_bench.measure_fanout(
            the_world,
            connections=args["connections"],
            modules=args["modules"],
            workers=args["workers"],
            delay=args["delay"],
            records=args["records"],
            changed=args["changed"],
        )
    return {**result, "aws_latency_ms": args["aws_latency_ms"]}


SECTIONS = {
    "refresh": refresh,
    "callback": callback,
    "fanout": fanout,
    "export_page": export_page,
    "export_tick": export_tick,
    "export_fanout": export_fanout,
}


def main() -> None:
    section, args, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    out.write_text(json.dumps(SECTIONS[section](args)))


if __name__ == "__main__":
    main()
