"""Every code block of README.md and docs/ that a reader runs, run as the reader runs it.

Each page's blocks run in page order: its ``bash`` blocks in one working folder laid out like a checkout
(``.venv``, ``Resources``, the Makefile), its ``python`` blocks in one namespace of the Slicer Python console
(:mod:`support.slicer_qt.console`: Slicer's own Python layer on slicer-core's real scene, Sample Data and the
module loaded) with that folder as the current directory. Blocks the suite cannot run as written carry a
``<!-- docs-test: skip REASON -->`` line; each reason is printed. After every block, each registration the
reader now holds is checked against the bundled pair's 14 landmark pairs (the truth, not the code): a
transform file the page wrote, and the ``result`` of a console block, must put the MR landmarks within 3.5 mm
(mean) of the CT ones, where the sample pair's registration gives 2.2 mm.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.io.sample_data import demo_pair
from support import slicer_qt
from support.docs_blocks import ROOT, blocks, pages

#: Mean landmark error (mm) a registration of the bundled pair must reach (its default gives 2.2 mm).
TRE_BAR_MM = 3.5
#: What the working folder shares with the checkout, so that paths in the docs resolve as in a checkout.
CHECKOUT_ENTRIES = (".venv", "Resources", "Makefile", "pyproject.toml", "constraints.txt", "CTMRFusion", "Testing")
TRANSFORM_SUFFIXES = (".h5", ".tfm")
PAGES = [page for page in pages() if any(block.language in ("bash", "python") for block in blocks(page))]


def _landmarks():
    pair = demo_pair()
    ct, mr = read_landmarks(pair.ct_landmarks), read_landmarks(pair.mr_landmarks)
    assert ct.labels == mr.labels
    return ct.points_lps, mr.points_lps


def _error_of_itk_transform(transform: sitk.Transform) -> float:
    """Mean distance (mm) between the CT landmarks sent through a CT→MR (LPS) transform and the MR landmarks."""
    ct, mr = _landmarks()
    moved = np.array([transform.TransformPoint(tuple(point)) for point in ct])
    return float(np.linalg.norm(moved - mr, axis=1).mean())


def _error_of_transform_node(node) -> float:
    """Mean distance (mm) between the MR landmarks shown through a transform node (MR → CT, RAS, to world) and
    the CT landmarks."""
    import vtk

    ct, mr = _landmarks()
    matrix = vtk.vtkMatrix4x4()
    node.GetMatrixTransformToWorld(matrix)
    to_ct = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])  # LPS <-> RAS
    mr_h = np.c_[mr, np.ones(len(mr))] @ (flip @ to_ct @ flip).T
    return float(np.linalg.norm(mr_h[:, :3] - ct, axis=1).mean())


def _check_transform_files(folder, seen: dict, where: str) -> None:
    for path in folder.rglob("*"):  # not into the checkout's symlinked folders (rglob does not follow them)
        if path.suffix not in TRANSFORM_SUFFIXES:
            continue
        stamp = path.stat().st_mtime_ns
        if seen.get(path) == stamp:
            continue
        seen[path] = stamp
        error = _error_of_itk_transform(sitk.ReadTransform(str(path)))
        assert error < TRE_BAR_MM, f"after {where}: {path.name} leaves {error:.2f} mm mean landmark error"


def _check_console_result(namespace: dict, where: str) -> None:
    result = namespace.get("result")
    if getattr(result, "transformNode", None) is not None:
        error = _error_of_transform_node(result.transformNode)
    elif isinstance(getattr(result, "transform", None), sitk.Transform):
        error = _error_of_itk_transform(result.transform)
    else:
        return
    assert error < TRE_BAR_MM, f"after {where}: the console's result leaves {error:.2f} mm mean landmark error"


@pytest.fixture
def workspace(tmp_path):
    folder = tmp_path / "checkout"
    folder.mkdir()
    for name in CHECKOUT_ENTRIES:
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name)
    return folder


def _run_bash(text: str, folder, where: str) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", text], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, f"{where} exited {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_the_page_runs_in_order_as_written(page, workspace, tmp_path, monkeypatch, capsys):
    page_blocks = blocks(page)
    needs_console = any(block.runs and block.language == "python" for block in page_blocks)
    if needs_console and not slicer_qt.available():
        pytest.skip(slicer_qt.SKIP_REASON)
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(sys, "argv", ["Slicer"])
    namespace, seen, skipped = None, {}, []
    if needs_console:
        from support.slicer_qt.console import close_console, open_console

        namespace = open_console(tmp_path / "slicer")
    try:
        for block in page_blocks:
            if block.save_as:
                (workspace / block.save_as).write_text(block.text)
            elif block.skip:
                skipped.append(f"{block.where}: {block.skip}")
            elif block.language == "bash":
                _run_bash(block.text, workspace, block.where)
            elif block.language == "python":
                exec(compile(block.text, block.where, "exec"), namespace)
                _check_console_result(namespace, block.where)
            _check_transform_files(workspace, seen, block.where)
    finally:
        if needs_console:
            close_console(tmp_path / "slicer")
    with capsys.disabled():
        for line in skipped:
            print(f"\n  not run: {line}", end="")


def test_every_block_is_run_or_says_why_not():
    """A bash or python block is either run or marked with a reason; markers name a file or a reason, and stand
    only above a fence (a marker anywhere else would silently mark nothing); no block hides a command under
    another language name or none."""
    for page in pages():
        text = page.read_text()
        marked = [block for block in blocks(page) if block.skip or block.save_as]
        markers = [line for line in text.splitlines() if line.lstrip().startswith("<!-- docs-test:")]
        assert len(markers) == len(marked), f"{page.name}: a docs-test marker not above a code block"
        for block in marked:
            assert block.skip is None or len(block.skip.split()) >= 4, f"{block.where}: say why it is not run"
        for block in blocks(page):
            # A shell or Python block under another name would escape the runner; a block says what it holds.
            assert block.language not in ("", "sh", "shell", "console", "zsh", "py", "pycon"), block.where
