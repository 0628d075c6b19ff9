"""The files a new user and a packager look for: the license, the changelog, the version."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from zoho_aep import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_the_project_is_apache_2_licensed() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"


def test_the_changelog_has_an_entry_for_this_version_with_upgrade_notes() -> None:
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == __version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## (\d+\.\d+\.\d+)", changelog, re.M)
    assert versions and versions[0] == __version__, "the newest entry is this version"
    newest = changelog.split(f"## {__version__}", 1)[1].split("\n## ", 1)[0]
    assert "### Upgrade notes" in newest


def test_teardown_names_what_sam_delete_leaves_and_the_command_that_removes_it() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    teardown = text.split("## Teardown", 1)[1]
    assert "{prefix}/connections/*" in teardown and "zoho-aep uninstall" in teardown and "sam delete" in teardown
