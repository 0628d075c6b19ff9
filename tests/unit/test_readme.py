"""The README stays the operator's guide: the two commands first, reference material in docs/."""

from __future__ import annotations

from pathlib import Path

from zoho_aep.edges.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_first_screen_is_the_two_commands() -> None:
    first_block = README.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]
    assert README.index("```") < 200, "nothing before the two commands but the title"


def test_reference_tables_live_in_docs_and_the_readme_links_them() -> None:
    assert len(README.splitlines()) <= 320
    assert "## Codes" not in README and "| detail-type |" not in README and "| tag |" not in README
    for page in ("docs/cli.md", "docs/reference.md", "docs/operations.md", "docs/security.md", "CHANGELOG.md"):
        assert f"]({page}" in README, page


def test_every_subcommand_is_in_the_cli_reference() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    parser = build_parser()
    names = next(a for a in parser._actions if a.dest == "command").choices
    assert names is not None
    assert [name for name in names if f"### `zoho-aep {name}`" not in text] == []
