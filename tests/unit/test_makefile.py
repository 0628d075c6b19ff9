"""``make test`` runs every test: each folder of ``tests/`` with tests in it belongs to one tier."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_folder_is_in_a_tier_that_make_test_runs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    tiers = dict(re.findall(r"^(TESTS_[A-Z0-9]+) := (.+)$", makefile, re.M))
    in_tiers = {folder for value in tiers.values() for folder in value.split()}
    with_tests = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")}
    assert sorted(with_tests - in_tiers) == []
    test_recipe = makefile.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    assert all(f"$({name})" in test_recipe for name in tiers)
