"""The picture of docs/batch.md: the cohort page of a real ``ctmrfusion batch`` run, as headless Chromium renders it.

The cohort is the batch tests' (:mod:`support.cohort`): three shared Harvard stacks (one under a known rigid
move, with landmarks from that move, so its row has the error before and after), a corrupt file, and a stack's
CT with an MR of noise, which registers but is marked ``review`` by its confidence verdict. Run on a local
cluster of 2 workers with the fast preset; the page opens sorted as written (failures first, then reviews).

Usage: ``PYTHONPATH=Testing .venv/bin/python Testing/benchmarks/figure_batch_index.py`` (needs ../shared/data and
the Debian package chromium). Writes ``docs/images/batch_index.png``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import SimpleITK as sitk

from support.browser import chromium_screenshot
from support.cohort import add_noise_case, write_cohort

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "images" / "batch_index.png"
#: The page's width and the height that shows the title, the counts and the five rows.
SIZE = (1700, 820)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        manifest = write_cohort(folder)
        add_noise_case(manifest)
        out = folder / "out"
        command = [sys.executable, "-m", "CTMRFusionLib.cli", "batch", "--manifest", str(manifest), "--out", str(out)]
        command += ["--preset", "fast", "--workers", "2", "--threads-per-worker", "1"]
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode not in (0, 1):  # 1: the corrupt case failed, as intended
            raise SystemExit(run.stderr)
        pixels = chromium_screenshot(out / "index.html", SIZE)
    image = sitk.GetImageFromArray(pixels, isVector=True)
    temporary = OUTPUT.with_suffix(".tmp.png")
    sitk.WriteImage(image, str(temporary))
    temporary.replace(OUTPUT)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({SIZE[0]}×{SIZE[1]})")


if __name__ == "__main__":
    main()
