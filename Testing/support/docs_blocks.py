"""The code blocks of README.md and docs/*.md, in page order, as a reader meets them.

A fenced block whose language is ``bash`` or ``python`` is something a reader runs, and the docs test runs it.
A line ``<!-- docs-test: skip REASON -->`` right above a fence marks a block the suite cannot run as written
(it needs the Slicer desktop application, the reader's PACS or cluster, or hours of training); the reason is
required and is reported. A line ``<!-- docs-test: file NAME -->`` above a block (a CSV manifest, say) is a file
the page asks the reader to save: the test saves it as NAME before running the blocks after it.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_LANGUAGES = ("bash", "python")
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>[\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*<!-- docs-test: (?P<kind>skip|file) (?P<value>.+?) -->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block. ``line``: the line of its opening fence (1-based); ``skip``: the reason it is not run;
    ``save_as``: the file name the page gives its content."""

    page: Path
    line: int
    language: str
    text: str
    skip: str | None = None
    save_as: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and self.skip is None


def pages() -> list[Path]:
    """README.md, then every page of docs/, by name."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` in order, each with the marker on the line above it (if any)."""
    lines = page.read_text().splitlines()
    found, index = [], 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{page}:{index + 1}: a code fence that is never closed")
        text = textwrap.dedent("\n".join(lines[index + 1 : end])) + "\n"
        marker = _marker_above(lines, index)
        kind, value = marker if marker else (None, None)
        found.append(
            Block(
                page=page,
                line=index + 1,
                language=opening["language"],
                text=text,
                skip=value if kind == "skip" else None,
                save_as=value if kind == "file" else None,
            )
        )
        index = end + 1
    return found


def _marker_above(lines: list[str], fence: int) -> tuple[str, str] | None:
    previous = fence - 1
    while previous >= 0 and not lines[previous].strip():
        previous -= 1
    match = _MARKER.match(lines[previous]) if previous >= 0 else None
    return (match["kind"], match["value"]) if match else None
