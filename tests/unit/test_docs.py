"""The docs follow the code: generated tables current, every code, tag and event explained, links that resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from tools import docs
from zoho_aep.config import parameters
from zoho_aep.domain import connection, events
from zoho_aep.domain.errors import all_codes
from zoho_aep.usecases.refresh.outcomes import REASON_SUPERSEDED

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / "docs" / "reference.md").read_text()
TEMPLATE, _ = decode_str((ROOT / "template.yaml").read_text())
# Outcomes that are codes without being errors: a success page, a page for an unknown path, a connect
# link sent on to Zoho, a kept re-consent.
OUTCOME_CODES = {"connected", "not-found", "link-opened", REASON_SUPERSEDED}


def _codes_table() -> set[str]:
    section = REFERENCE.split("\n## Codes\n", 1)[1]
    first_cells = [row.split("|")[1] for row in section.splitlines() if row.startswith("| `")]
    return {code for cell in first_cells for code in re.findall(r"`([a-z0-9-]+)`", cell)}


@pytest.mark.parametrize("page", docs.pages(), ids=lambda p: p.name)
def test_generated_tables_are_current(page: Path) -> None:
    text = page.read_text()
    assert docs.render(text) == text, "run `make docs`"


def test_every_code_the_product_reports_is_explained_and_every_explained_code_exists() -> None:
    documented = _codes_table()
    assert sorted(set(all_codes()) - documented) == []
    assert sorted(documented - set(all_codes()) - OUTCOME_CODES) == []


def test_every_tag_status_and_event_is_in_the_reference() -> None:
    tags = [v for k, v in vars(connection).items() if k.startswith("TAG_")]
    assert tags and [t for t in tags if f"`{t}`" not in REFERENCE] == []
    assert [s for s in connection.STATUSES if f"`{s}`" not in REFERENCE] == []
    assert [e for e in events.DETAIL_TYPES if f"`{e}`" not in REFERENCE] == []


def test_the_template_declares_the_defaults_and_bounds_of_the_parameters_table() -> None:
    declared = TEMPLATE["Parameters"]
    table = {s.parameter: s for s in parameters.ALL if s.parameter}
    assert sorted(set(declared) - set(table)) == [], "a stack parameter the table does not know"
    for name, setting in table.items():
        spec = declared[name]
        assert str(spec.get("Default")) == str(setting.default), name
        assert (spec.get("MinValue"), spec.get("MaxValue")) == (setting.low, setting.high), name


def test_the_template_sets_the_table_defaults_of_what_it_hard_codes() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["ADOBE_IMS_URL"] == parameters.ADOBE_IMS_URL.default
    assert env["ADOBE_PLATFORM_URL"] == parameters.ADOBE_PLATFORM_URL.default


def test_architecture_lists_every_module_of_the_layer_and_no_other() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    layer = ROOT / "layers" / "common"
    modules = {
        str(p.relative_to(layer))
        for p in (layer / "zoho_aep").rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    }
    listed = set(re.findall(r"`(zoho_aep/[\w/]+\.py)`", text))
    assert sorted(modules - listed) == [], "modules missing from docs/architecture.md"
    assert sorted(listed - modules) == [], "docs/architecture.md lists modules that do not exist"


def test_the_architecture_layout_names_every_room() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    layout = text.split("## Layout", 1)[1].split("```", 2)[1]
    rooms = [p.name for p in (ROOT / "layers/common/zoho_aep").iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert [r for r in rooms if f"  {r}/" not in layout] == []
    assert "wiring.py" in layout


def _slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


@pytest.mark.parametrize("page", docs.pages(), ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
            continue
        if anchor and file.suffix == ".md":
            headings = {_slug(h) for h in re.findall(r"^#+ (.+)$", file.read_text(), re.M)}
            if anchor not in headings:
                broken.append(target)
    assert broken == []
