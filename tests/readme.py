"""The README's command blocks and the output it says they print, for the tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def section(heading: str) -> str:
    """The text under ``## heading``, up to the next ``## `` heading."""
    text = README.read_text()
    marker = f"\n## {heading}\n"
    assert marker in text, f"the README has no section {heading!r}"
    return text.split(marker, 1)[1].split("\n## ", 1)[0]


def blocks(heading: str, language: str) -> list[str]:
    """The fenced blocks of that language in that section, in order."""
    return re.findall(rf"(?ms)^```{language}\n(.*?)^```", section(heading))


def line_pattern(shown: str) -> re.Pattern[str]:
    """A line of sample output, as a pattern: what changes from run to run (ports, times, counts
    of transitions and authorisations, the assembly's name) matches any value; the rest must be
    as shown, give or take the width of blanks."""
    pattern = re.escape(shown.strip())
    for varying, anything in (
        (r"127\\\.0\\\.0\\\.1:\d+", r"127\.0\.0\.1:\d+"),
        (r"assemblies/[0-9a-f]+", r"assemblies/[0-9a-f]+"),
        (r"\\.local_cloud/logs", r"\.local_cloud/(\S+/)?logs"),  # a test worker's own directory
        (r"\d+\\\.\d+s(\\ +)\d+", r"\d+\.\d+s +\d+"),  # DURATION and TRANSITIONS
        (r"\d+\\\.\d+s", r"\d+\.\d+s"),
        (r"\d+\\ ms\\ \\\(\\\+(\\ )*\d+\\\)", r"\d+ ms \(\+ *\d+\)"),
        (r"IAM:\\ \d+", r"IAM: \d+"),
    ):
        pattern = re.sub(varying, lambda _, a=anything: a, pattern)
    return re.compile(re.sub(r"(\\ )+", " +", pattern) + r"\Z")


def unmatched(shown: str, printed: str) -> list[str]:
    """The lines of ``shown`` (``...`` lines aside) that no line of ``printed`` matches, each
    printed line matching one shown line at most."""
    left = [line.strip() for line in printed.splitlines()]
    missing = []
    for line in shown.splitlines():
        if line.strip() in ("", "..."):
            continue
        pattern = line_pattern(line)
        found = next((i for i, candidate in enumerate(left) if pattern.match(candidate)), None)
        if found is None:
            missing.append(line)
        else:
            del left[found]
    return missing
