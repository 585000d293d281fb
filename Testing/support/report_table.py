"""Benchmark output: one Markdown table, printed and optionally written to a file."""

from __future__ import annotations

from pathlib import Path


def emit_table(columns: list[str], rows: list[list[str]], markdown_path=None) -> str:
    """Print the rows as a Markdown table (and write it to ``markdown_path`` if given); return the text."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if markdown_path:
        Path(markdown_path).write_text(text)
    return text
