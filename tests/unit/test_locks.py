"""Dependencies are locked with hashes for the dev environment, checkov and the layer; the Makefiles
install from the locks only, and every lock still satisfies the requirements it was made from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {
    "requirements-dev.txt": "requirements-dev.lock",
    "requirements-checkov.txt": "requirements-checkov.lock",
    "layers/common/requirements.txt": "layers/common/requirements.lock",
}


def requirements(path: Path) -> list[Requirement]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def pins(path: Path) -> dict[str, list[tuple[str, int]]]:
    """name -> [(version, number of hashes)], one per marker fork of a universal lock."""
    found: dict[str, list[tuple[str, int]]] = {}
    text = path.read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", block)
        if match:
            name = canonicalize_name(match.group(1))
            found.setdefault(name, []).append((match.group(2), block.count("--hash=sha256:")))
    return found


@pytest.mark.parametrize(("source", "lock"), sorted(LOCKS.items()))
def test_every_requirement_is_pinned_with_hashes_and_within_its_range(source: str, lock: str) -> None:
    locked = pins(ROOT / lock)
    assert locked, f"{lock} pins nothing"
    assert [name for name, forks in locked.items() if any(hashes == 0 for _, hashes in forks)] == []
    stale = []
    for requirement in requirements(ROOT / source):
        forks = locked.get(canonicalize_name(requirement.name))
        if not forks or not any(requirement.specifier.contains(v, prereleases=True) for v, _ in forks):
            stale.append(str(requirement))
    assert stale == [], f"{lock} is stale: run `make lock`"


@pytest.mark.parametrize("lock", sorted(LOCKS.values()))
def test_a_lock_names_no_index(lock: str) -> None:
    text = (ROOT / lock).read_text()
    assert not re.search(r"^\s*--(index-url|extra-index-url|find-links|trusted-host)", text, re.M)


def test_the_makefiles_install_only_from_the_locks_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r requirements-dev.lock" in makefile
    assert "--require-hashes --no-deps -r requirements-checkov.lock" in makefile
    assert not re.search(r"pip install[^\n]*-r requirements-(dev|checkov)\.txt", makefile)
    layer = (ROOT / "layers/common/Makefile").read_text()
    assert "--require-hashes" in layer and "-r requirements.lock" in layer
    assert "manylinux2014_aarch64" in layer and "--python-version $(PYTHON_VERSION)" in layer


def test_the_layer_lock_is_made_for_what_lambda_runs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lock_recipe = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    assert "--python-version 3.13 --python-platform aarch64-manylinux2014" in lock_recipe
