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

_BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def data_centers_table() -> str:
    """The built-in data-center table: each location's accounts server and API hosts."""
    rows = ["| location | accounts server | API hosts |", "| --- | --- | --- |"]
    for location, dc in DataCenterTable.builtin().items():
        hosts = ", ".join(f"`{h.removeprefix('https://')}`" for h in dc.api_domains)
        rows.append(f"| `{location}` | `{dc.accounts_url}` | {hosts} |")
    return "\n".join(rows)


GENERATORS: dict[str, Callable[[], str]] = {
    "configuration": markdown_table,
    "data-centers": data_centers_table,
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
