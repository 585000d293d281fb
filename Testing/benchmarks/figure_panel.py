"""Picture of the module panel for README, docs/user_guide.md and the Extensions Index: the real panel (its .ui,
widget and Slicer's own parameter-node code under Qt, see Testing/support/slicer_qt) after the bundled sample
pair was registered through it with its landmarks, rendered offscreen by Qt.

Usage (from the repository root):
    PYTHONPATH=Testing .venv/bin/python Testing/benchmarks/figure_panel.py docs/images/panel.png
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

from CTMRFusionLib.io.sample_data import demo_pair
from support import slicer_qt
from support.mrml_nodes import markups_node, volume_node

MODULE_FILE = Path(__file__).resolve().parents[2] / "CTMRFusion" / "CTMRFusion.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=460)
    args = parser.parse_args()

    slicer = slicer_qt.install(Path(tempfile.mkdtemp(prefix="ctmrfusion-qt-")))
    from support.slicer_qt.application import load_scripted_module

    pair = demo_pair()
    scene = slicer.mrmlScene
    ct = volume_node(scene, sitk.ReadImage(str(pair.ct)), "CT 1.5 mm")
    mr = volume_node(scene, sitk.ReadImage(str(pair.mr)), "MR T2")
    ct_points = markups_node(scene, pair.ct_landmarks, "CT landmarks")
    mr_points = markups_node(scene, pair.mr_landmarks, "MR landmarks")

    module = load_scripted_module(slicer.app, MODULE_FILE)
    module.enter()
    host = module.widgetRepresentation()
    ui = host.self().ui
    ui.ctVolumeSelector.setCurrentNode(ct)
    ui.mrVolumeSelector.setCurrentNode(mr)
    ui.ctLandmarksSelector.setCurrentNode(ct_points)
    ui.mrLandmarksSelector.setCurrentNode(mr_points)
    ui.registerButton.click()
    while host.self()._job is not None:
        slicer.app.processEvents()
        time.sleep(0.05)
    print(ui.statusLabel.text, "|", ui.treSummaryLabel.text)

    host.resize(args.width, host.sizeHint().height())
    host.show()
    for _ in range(10):
        slicer.app.processEvents()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not host.grab().save(str(args.out)):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
