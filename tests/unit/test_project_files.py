"""What a project page is expected to have, and that its version is one version."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_changelog_the_package_and_the_readme_name_one_version() -> None:
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    changelog = re.search(r"^## (\d+\.\d+\.\d+) ", (ROOT / "CHANGELOG.md").read_text(), re.M)
    readme = re.search(r"^Version (\d+\.\d+\.\d+) ", (ROOT / "README.md").read_text(), re.M)
    assert changelog is not None and readme is not None
    assert changelog.group(1) == readme.group(1) == package


def test_the_licence_the_readme_names_is_the_one_in_the_repository() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT No Attribution")
    assert "MIT No Attribution licence ([LICENSE](LICENSE))" in (ROOT / "README.md").read_text()
    assert (ROOT / "CONTRIBUTING.md").exists()
