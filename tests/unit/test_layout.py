"""The layer's shape: rooms that import only downward, no import cycle, a pure domain, tests imported by nobody."""

from __future__ import annotations

from pathlib import Path

from tests.support.layout import ROOMS, cycles, imports_of_tests, io_in_domain, upward_imports

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"


def test_no_room_of_the_layer_imports_a_room_above_it() -> None:
    assert upward_imports(LAYER) == []


def test_the_layer_has_no_import_cycle() -> None:
    assert cycles(LAYER) == []


def test_the_domain_does_no_io() -> None:
    assert io_in_domain(LAYER) == []


def test_nothing_outside_the_tests_imports_from_them() -> None:
    folders = [ROOT / name for name in ("layers", "functions", "local", "benchmarks")]
    assert imports_of_tests(folders, ROOT) == []


def test_every_room_exists_and_every_module_says_what_it_is_for() -> None:
    package = LAYER / "zoho_aep"
    assert {p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ROOMS) - {"wiring"}
    silent = [
        str(p.relative_to(LAYER))
        for p in package.rglob("*.py")
        if not p.read_text().lstrip().startswith('"""') or len(p.read_text().lstrip()[3:].split("\n", 1)[0]) < 10
    ]
    assert silent == []


# ---- the checks themselves catch what they are for --------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "zoho_aep" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_check_catches_a_lower_room_importing_a_higher_one(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "domain/__init__.py": "",
            "domain/names.py": "def f():\n    from ..adapters.http import x  # a lazy import counts too\n",
            "adapters/__init__.py": "",
            "adapters/http.py": "from ..domain.names import f\nx = 1\n",
        },
    )
    assert upward_imports(root) == ["zoho_aep.domain.names:2 (domain) imports zoho_aep.adapters.http (adapters)"]
    assert cycles(root) == [["zoho_aep.adapters.http", "zoho_aep.domain.names", "zoho_aep.adapters.http"]]


def test_the_check_catches_io_in_the_domain_and_a_module_outside_the_rooms(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "domain/__init__.py": "",
            "domain/names.py": "import requests\n",
            "helpers.py": "x = 1\n",
        },
    )
    assert io_in_domain(root) == ["zoho_aep.domain.names:1 imports requests"]
    assert upward_imports(root) == [
        "zoho_aep.helpers: not in a room (domain, config, adapters, usecases, wiring, edges)"
    ]
