"""Writes the tables in ``docs/`` that are generated from the code (``make docs``); a test checks they are current.

A generated block sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``; everything
outside the markers is written by hand.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "common"))

from zoho_aep.config.parameters import markdown_table  # noqa: E402
from zoho_aep.domain.datacenters import DataCenterTable  # noqa: E402
from zoho_aep.edges.cli import build_parser  # noqa: E402

_BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def data_centers_table() -> str:
    """The built-in data-center table: each location's accounts server and API hosts."""
    rows = ["| location | accounts server | API hosts |", "| --- | --- | --- |"]
    for location, dc in DataCenterTable.builtin().items():
        hosts = ", ".join(f"`{h.removeprefix('https://')}`" for h in dc.api_domains)
        rows.append(f"| `{location}` | `{dc.accounts_url}` | {hosts} |")
    return "\n".join(rows)


def cli_reference() -> str:
    """Every subcommand of ``zoho-aep``: what it does, and each argument with its default."""
    import argparse

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parts: list[str] = []
    for name, sub in action.choices.items():
        parts += [f"### `zoho-aep {name}`", "", sub.description or "", "", "| argument | default | meaning |"]
        parts.append("| --- | --- | --- |")
        for arg in sub._actions:
            if isinstance(arg, argparse._HelpAction):
                continue
            flag = ", ".join(arg.option_strings) or arg.dest.upper()
            if arg.option_strings and arg.nargs != 0:
                flag += f" {arg.metavar or arg.dest.upper()}"
            default = "" if arg.default in (None, False) or arg.required else f"`{arg.default}`"
            if arg.required:
                default = "(required)"
            meaning = (arg.help or "").replace("|", "\\|")
            parts.append(f"| `{flag}` | {default} | {meaning} |")
        parts.append("")
    return "\n".join(parts).rstrip()


def proof_sizes_table() -> str:
    """What ``make test`` (CI) and ``make proof-full`` run (``tests/proof/sizes.py``)."""
    sys.path.insert(0, str(ROOT))
    import tests.proof.test_fault_matrix  # noqa: F401 - importing it registers every function's calls
    from tests.proof import test_hostile_callbacks as hostile_suite
    from tests.proof.fault_matrix import CALLS
    from tests.proof.sizes import CI, FULL, SIZE

    hostile_base = [  # each property's examples at this run's size, back to the base count
        fn._hypothesis_internal_use_settings.max_examples // SIZE.hostile_scale
        for name, fn in vars(hostile_suite).items()
        if name.startswith("test_") and hasattr(fn, "_hypothesis_internal_use_settings")
    ]
    cells = sum(len(call.kinds) for calls in CALLS.values() for call in calls)
    calls = sum(len(calls) for calls in CALLS.values())
    rows = ["| suite | `make test` (CI) | `make proof-full` |", "| --- | --- | --- |"]
    hostile = [sum(b * size.hostile_scale for b in hostile_base) for size in (CI, FULL)]
    rows.append(f"| hostile callback and connect-link inputs | {hostile[0]:,} | {hostile[1]:,} |")
    rows.append(
        f"| concurrent writers on one connection (rounds x crowd) | {CI.writers:,} ({CI.rounds} x {sum(CI.crowd)}) "
        f"| {FULL.writers:,} ({FULL.rounds} x {sum(FULL.crowd)}) |"
    )
    matrix = f"fault matrix cells ({calls} dependency calls of {len(CALLS)} functions)"
    rows.append(f"| {matrix} | {calls} (one kind per call) | {cells} (every kind) |")
    return "\n".join(rows)


GENERATORS: dict[str, Callable[[], str]] = {
    "configuration": markdown_table,
    "data-centers": data_centers_table,
    "cli": cli_reference,
    "proof-sizes": proof_sizes_table,
}


def render(text: str) -> str:
    """``text`` with every generated block rewritten from the code (unknown block names raise)."""

    def fill(match: re.Match[str]) -> str:
        return f"{match.group(1)}{GENERATORS[match.group('name')]()}\n{match.group(4)}"

    return _BLOCK.sub(fill, text)


def pages() -> list[Path]:
    return [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def main() -> int:
    for page in pages():
        text = page.read_text()
        new = render(text)
        if new != text:
            page.write_text(new)
            print(f"updated {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
