"""Every link between the project's documents leads somewhere: the file exists and, for a link
to a section, the section does (as GitHub names its anchors). Moving a section breaks the build,
not the reader's click."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "CHANGELOG.md",
        ROOT / "fake_vendor" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"(?ms)^```.*?^```")


def anchors(document: Path) -> set[str]:
    """GitHub's anchors: each heading lowercased, punctuation but `-` and `_` dropped, spaces
    made hyphens (code fences hold no headings)."""
    headings = re.findall(r"(?m)^#+ (.+)$", _FENCE.sub("", document.read_text()))
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def links(document: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(_FENCE.sub("", document.read_text()))
        if not re.match(r"[a-z]+:", target)  # https:, mailto: — not ours to check offline
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_link_leads_to_a_file_and_section_that_exist(document: Path) -> None:
    broken = []
    for target in links(document):
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no such section")
    assert not broken, broken


def test_the_reference_documents_are_all_linked_from_the_readme() -> None:
    readme = links(ROOT / "README.md")
    unlinked = [d.name for d in (ROOT / "docs").glob("*.md") if f"docs/{d.name}" not in readme]
    assert not unlinked, f"docs/ holds documents the README does not lead to: {unlinked}"
