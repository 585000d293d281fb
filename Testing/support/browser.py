"""Headless Chromium (Debian's ``chromium``) for tests of the HTML the project writes: the DOM after scripts
ran, and a screenshot. Tests skip with a message where no Chromium is installed (``.ci/run`` installs it)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

#: The flags a root, offline, display-less machine needs (no sandbox, GPU, background network or first-run UI).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
)


def chromium() -> str:
    """The Chromium executable, or skip the test."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does it)")


def _run(page: Path, *extra, fragment: str | None = None) -> subprocess.CompletedProcess:
    url = Path(page).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


class Dom(HTMLParser):
    """The elements of a serialised DOM, in document order, as (tag, attributes)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def find_all(self, tag: str) -> list[dict]:
        return [attributes for name, attributes in self.elements if name == tag]


def chromium_dom(page: Path, fragment: str | None = None) -> Dom:
    """The page's DOM after its scripts ran (``--dump-dom``), opened with ``#fragment`` if given."""
    return Dom(_run(page, "--virtual-time-budget=3000", "--dump-dom", fragment=fragment).stdout)


def chromium_screenshot(page: Path, size=(1400, 1000)) -> np.ndarray:
    """The rendered page as an RGB uint8 array (rows, columns, 3)."""
    with tempfile.TemporaryDirectory() as folder:
        shot = Path(folder) / "page.png"
        _run(page, f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=3000", f"--screenshot={shot}")
        pixels = sitk.GetArrayFromImage(sitk.ReadImage(str(shot)))
    return pixels[..., :3]
