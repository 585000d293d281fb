"""The module panel run for real: Slicer's own Python layer (parameterNodeWrapper, ScriptedLoadableModule, util,
v5.12.3) under a real Qt (PySide6, offscreen), on slicer-core's real MRML scene, driven through the Widget as a
person drives it, with the Qt event loop running. The worker is started through a launcher that runs the
interpreter as its child and forwards no signal, as Slicer's PythonSlicer does.

The harness is ``support.slicer_qt``; these tests skip with a message where ``../shared/slicer-python`` is absent.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from support import slicer_qt
from support.dicom_checks import MR_IMAGE, SPATIAL_REGISTRATION, by_sop_class
from support.mrml_nodes import markups_node, volume_node, volume_node_added_from_dicom
from support.processes import running_processes_naming

pytestmark = pytest.mark.skipif(not slicer_qt.available(), reason=slicer_qt.SKIP_REASON)

MODULE_FILE = Path(__file__).resolve().parents[2] / "CTMRFusion" / "CTMRFusion.py"
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def slicer(tmp_path_factory):
    module = slicer_qt.install(tmp_path_factory.mktemp("qt-settings"))
    yield module
    slicer_qt.uninstall()


@pytest.fixture
def launcher(tmp_path, monkeypatch):
    """``PythonSlicer`` on PATH, made like CTK's launcher: it runs the interpreter as its child and waits."""
    from support.slicer_qt.application import write_python_launcher

    script = write_python_launcher(tmp_path / "launcher")
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return script


@pytest.fixture
def slot_errors(monkeypatch):
    """Exceptions raised in Qt slots and VTK observers (both reach sys.excepthook instead of the test)."""
    errors = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, trace: errors.append(value))
    return errors


class Panel:
    """The module as Slicer shows it: loaded, its widget set up and entered."""

    def __init__(self, slicer):
        from support.slicer_qt.application import load_scripted_module

        self.slicer = slicer
        self.module = load_scripted_module(slicer.app, MODULE_FILE)
        self.module.enter()
        self.widget = self.module.widgetRepresentation().self()
        self.ui = self.widget.ui

    @property
    def parameters(self):
        return self.widget._parameterNode

    def wait(self, condition, timeout=300.0):
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            self.slicer.app.processEvents()
            time.sleep(0.02)

    def wait_for_job(self, timeout=300.0):
        self.wait(lambda: self.widget._job is None, timeout)

    def choose(self, combo, text: str) -> None:
        index = combo.findText(text)
        assert index >= 0, text
        combo.setCurrentIndex(index)

    def unload(self):
        self.slicer.app.moduleManager().unload("CTMRFusion")


@pytest.fixture
def panel(slicer, launcher):
    slicer.mrmlScene.Clear(0)
    opened = Panel(slicer)
    yield opened
    if opened.widget._job is not None:
        opened.widget._cancelJob()
    if slicer.app.moduleManager().module("CTMRFusion") is not None:
        opened.module.exit()
        opened.unload()


@pytest.fixture
def pair(slicer, demo_images, sample):
    scene = slicer.mrmlScene
    ct_image, mr_image = demo_images
    return {
        "ct": volume_node(scene, ct_image, "CT"),
        "mr": volume_node(scene, mr_image, "MR"),
        "ct_points": markups_node(scene, sample.ct_landmarks, "CT points"),
        "mr_points": markups_node(scene, sample.mr_landmarks, "MR points"),
    }


def _pick_pair(panel, pair, preset="fast"):
    ui = panel.ui
    ui.ctVolumeSelector.setCurrentNode(pair["ct"])
    ui.mrVolumeSelector.setCurrentNode(pair["mr"])
    ui.ctLandmarksSelector.setCurrentNode(pair["ct_points"])
    ui.mrLandmarksSelector.setCurrentNode(pair["mr_points"])
    panel.choose(ui.preset, preset)


def job_processes(job) -> list[int]:
    """PIDs of running processes whose command line names the job's folder (launcher and interpreter)."""
    return running_processes_naming(str(job.folder))


def _mapped_landmark_error_mm(slicer, pair, mr_node) -> float:
    """Mean distance (mm) between the MR landmarks (the MR's own frame) and the CT landmarks carried into that
    frame by what the scene shows: the MR's parent transforms read from MRML itself."""
    matrix = np.eye(4)
    parent = mr_node.GetParentTransformNode()
    if parent is not None:
        import vtk

        vtk_matrix = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformFromWorld(vtk_matrix)
        matrix = np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
    matrix = RAS_TO_LPS @ matrix @ RAS_TO_LPS
    ct, mr = (_points_lps(pair[k]) for k in ("ct_points", "mr_points"))
    mapped = ct @ matrix[:3, :3].T + matrix[:3, 3]
    return float(np.linalg.norm(mapped - mr, axis=1).mean())


def _points_lps(markups):
    points = []
    for index in range(markups.GetNumberOfControlPoints()):
        position = [0.0, 0.0, 0.0]
        markups.GetNthControlPointPosition(index, position)
        points.append([-position[0], -position[1], position[2]])
    return np.array(points)


def test_the_panel_opens_with_slicers_own_parameter_node_code(panel, slot_errors):
    """setup() and enter() run Slicer's connectGui over every SlicerParameterName of the .ui: the parameter node
    is created with its defaults (None masks included), and the widgets and the node follow each other."""
    p, ui = panel.parameters, panel.ui
    assert type(p).__name__ == "CTMRFusionParameterNode"
    assert p.ctMask is None and p.mrMask is None
    assert (p.preset, ui.preset.currentText) == ("default", "default")
    panel.choose(ui.preset, "fast")
    assert p.preset == "fast"
    assert p.samplingPercentage == pytest.approx(ui.samplingPercentage.value)  # the preset's value, shown
    p.opacity = 0.3
    assert ui.opacity.value == pytest.approx(0.3)
    assert not ui.registerButton.enabled  # no CT and MR yet
    assert slot_errors == []


def test_the_parameter_node_is_saved_with_the_scene_and_restored_into_a_fresh_panel(panel, slicer, tmp_path):
    scene = slicer.mrmlScene
    ct = volume_node(scene, sitk.Image([8, 8, 8], sitk.sitkInt16), "CT")
    mr = volume_node(scene, sitk.Image([8, 8, 8], sitk.sitkInt16), "MR")
    panel.ui.ctVolumeSelector.setCurrentNode(ct)
    panel.ui.mrVolumeSelector.setCurrentNode(mr)
    panel.choose(panel.ui.preset, "fine")
    panel.ui.opacity.value = 0.25
    panel.ui.mrUnderTransformCheckBox.checked = True
    scene.SetURL(str(tmp_path / "scene.mrml"))
    assert scene.Commit()
    panel.module.exit()
    panel.unload()

    scene.Clear(0)
    scene.SetURL(str(tmp_path / "scene.mrml"))
    scene.Import()
    fresh = Panel(slicer)
    p = fresh.parameters
    assert (p.ctVolume.GetName(), p.mrVolume.GetName()) == ("CT", "MR")
    assert (p.preset, fresh.ui.preset.currentText) == ("fine", "fine")
    assert fresh.ui.opacity.value == pytest.approx(0.25)
    assert fresh.ui.mrUnderTransformCheckBox.checked
    assert fresh.ui.ctVolumeSelector.currentNode().GetName() == "CT"
    fresh.module.exit()
    fresh.unload()


@pytest.mark.slow
def test_register_through_the_panel_lands_transform_volume_and_landmark_table(panel, pair, slicer, slot_errors):
    _pick_pair(panel, pair)
    assert panel.ui.registerButton.enabled
    panel.ui.registerButton.click()
    assert panel.ui.registerButton.text == "Cancel"
    panel.wait_for_job()
    p = panel.parameters
    assert slot_errors == []
    assert "Done" in panel.ui.statusLabel.text
    log = panel.ui.logTextEdit.toPlainText()
    assert "register:" in log and "level 1:" in log  # progress and the per-level trace reached the log
    assert p.outputTransform is not None and p.outputVolume is not None
    ct_dims = pair["ct"].GetImageData().GetDimensions()
    assert p.outputVolume.GetImageData().GetDimensions() == ct_dims
    table = panel.ui.treTableView.mrmlTableNode().GetTable()
    assert table.GetNumberOfRows() == pair["ct_points"].GetNumberOfControlPoints() + 3  # points, mean, median, max
    pair["mr"].SetAndObserveTransformNodeID(p.outputTransform.GetID())
    assert _mapped_landmark_error_mm(slicer, pair, pair["mr"]) <= 3.5


@pytest.mark.slow
def test_cancel_ends_every_process_of_the_job_within_2_s_and_leaves_the_scene_as_it_was(panel, pair, slicer):
    _pick_pair(panel, pair, preset="default")
    before = slicer.mrmlScene.GetNumberOfNodes()
    panel.ui.registerButton.click()
    job = panel.widget._job
    panel.wait(lambda: len(job_processes(job)) >= 2 and "register:" in panel.ui.logTextEdit.toPlainText(), 120)
    started = time.monotonic()
    panel.ui.registerButton.click()  # it reads Cancel
    while job_processes(job) and time.monotonic() - started < 2.0:
        time.sleep(0.02)
    assert job_processes(job) == [], "the launcher's child outlived the cancel"
    assert panel.widget._job is None and panel.ui.registerButton.text == "Register"
    for _ in range(20):
        slicer.app.processEvents()
        time.sleep(0.02)
    assert slicer.mrmlScene.GetNumberOfNodes() == before
    assert panel.parameters.outputTransform is None


@pytest.mark.slow
@pytest.mark.parametrize("how", ["scene close", "module cleanup"])
def test_closing_the_scene_or_the_module_mid_run_stops_the_job(panel, pair, slicer, slot_errors, how):
    _pick_pair(panel, pair, preset="default")
    panel.ui.registerButton.click()
    job = panel.widget._job
    panel.wait(lambda: len(job_processes(job)) >= 2, 120)
    if how == "scene close":
        slicer.mrmlScene.Clear(0)
    else:
        panel.module.exit()
        panel.unload()  # Slicer calls cleanup() through moduleAboutToBeUnloaded
    started = time.monotonic()
    while job_processes(job) and time.monotonic() - started < 2.0:
        time.sleep(0.02)
    assert job_processes(job) == []
    nodes = slicer.mrmlScene.GetNumberOfNodes()
    for _ in range(50):  # the panel's timer would have stored a result by now
        slicer.app.processEvents()
        time.sleep(0.02)
    assert slicer.mrmlScene.GetNumberOfNodes() == nodes
    assert slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLLinearTransformNode") is None
    assert slot_errors == []


def _register(panel, timeout=300.0):
    panel.ui.registerButton.click()
    panel.wait_for_job(timeout)
    assert "Done" in panel.ui.statusLabel.text, panel.ui.statusLabel.text


@pytest.mark.slow
def test_an_mr_under_a_transform_ends_where_a_clean_registration_does(panel, pair, slicer):
    """With "MR under transform" checked: the MR under no transform (clean); a second run on that result (the
    output is then the MR's parent); the MR under a known 20° / 19 mm move; the MR under a start near the answer
    that is also chosen as the initial transform (it must not be applied twice). Each time, the landmark error of
    what the scene then shows agrees with the clean run's within 0.1 mm."""
    import vtk

    ui, mr = panel.ui, pair["mr"]
    _pick_pair(panel, pair)
    ui.mrUnderTransformCheckBox.checked = True
    ui.resampleMrCheckBox.checked = False

    _register(panel)
    clean = _mapped_landmark_error_mm(slicer, pair, mr)
    assert clean <= 3.5
    near_answer = vtk.vtkMatrix4x4()
    panel.parameters.outputTransform.GetMatrixTransformToParent(near_answer)

    _register(panel)  # the MR is under the first result, which is also the output: run twice in a row
    assert abs(_mapped_landmark_error_mm(slicer, pair, mr) - clean) <= 0.1

    move = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "a move")
    rigid = vtk.vtkTransform()
    rigid.Translate(15.0, -10.0, 5.0)
    rigid.RotateZ(20.0)
    move.SetMatrixTransformToParent(rigid.GetMatrix())
    start = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "a start")
    start.SetMatrixTransformToParent(near_answer)
    for parent, initial in ((move, None), (start, start)):
        mr.SetAndObserveTransformNodeID(parent.GetID())
        ui.outputTransformSelector.setCurrentNode(None)
        ui.initialTransformSelector.setCurrentNode(initial)
        _register(panel)
        assert mr.GetParentTransformNode() is panel.parameters.outputTransform
        assert abs(_mapped_landmark_error_mm(slicer, pair, mr) - clean) <= 0.1, parent.GetName()


@pytest.mark.slow
def test_fuse_from_the_panel_reports_progress_and_cancels(panel, slicer, demo_images):
    ct_image, mr_image = demo_images
    ct = volume_node(slicer.mrmlScene, ct_image, "CT")
    mr_on_ct = volume_node(slicer.mrmlScene, sitk.Resample(mr_image, ct_image), "MR on CT")
    panel.ui.ctVolumeSelector.setCurrentNode(ct)
    panel.ui.mrVolumeSelector.setCurrentNode(mr_on_ct)
    panel.choose(panel.ui.fusionMethod, "unet")
    before = slicer.mrmlScene.GetNumberOfNodes()
    panel.ui.fuseButton.click()
    job = panel.widget._job
    panel.wait(lambda: len(job_processes(job)) >= 2, 60)
    panel.ui.fuseButton.click()  # Cancel
    started = time.monotonic()
    while job_processes(job) and time.monotonic() - started < 2.0:
        time.sleep(0.02)
    assert job_processes(job) == []
    assert slicer.mrmlScene.GetNumberOfNodes() == before and panel.parameters.fusedVolume is None

    panel.choose(panel.ui.fusionMethod, "gff")
    panel.ui.fuseButton.click()
    panel.wait_for_job()
    fused = panel.parameters.fusedVolume
    assert fused is not None and "gff" in panel.ui.statusLabel.text
    assert fused.GetImageData().GetDimensions() == ct.GetImageData().GetDimensions()
    assert "fuse:" in panel.ui.logTextEdit.toPlainText()
    assert 0.0 <= fused.GetImageData().GetScalarRange()[0] < fused.GetImageData().GetScalarRange()[1] <= 255.0


def test_module_discovery_imports_only_what_the_panel_needs_to_appear(tmp_path):
    """Slicer imports the module file at every start. Doing so (in a fresh interpreter, as Slicer does) must not
    import the registration, fusion or display code, nor torch or SciPy."""
    import subprocess

    script = f"""
import sys
from pathlib import Path
from support import slicer_qt
from support.slicer_qt.application import load_scripted_module
slicer = slicer_qt.install(Path({str(tmp_path)!r}))
load_scripted_module(slicer.app, Path({str(MODULE_FILE)!r}))
print("\\n".join(sorted(sys.modules)))
"""
    testing = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [testing, os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = set(run.stdout.split())
    assert "CTMRFusion" in loaded and "CTMRFusionLib.mrml.panel_fields" in loaded
    heavy = {
        "CTMRFusionLib.registration.rigid",
        "CTMRFusionLib.fusion.pipeline",
        "CTMRFusionLib.mrml.logic",
        "CTMRFusionLib.mrml.display",
        "CTMRFusionLib.mrml.registration_job",
        "torch",
        "scipy",
    }
    assert not heavy & loaded, sorted(heavy & loaded)


@pytest.mark.slow
def test_a_registration_of_low_confidence_is_flagged_beside_the_result(panel, slicer, demo_images):
    ct_image, mr_image = demo_images
    noise = sitk.GetImageFromArray(np.random.default_rng(7).uniform(0, 800, sitk.GetArrayViewFromImage(mr_image).shape))
    noise.CopyInformation(mr_image)
    ct = volume_node(slicer.mrmlScene, ct_image, "CT")
    mr = volume_node(slicer.mrmlScene, sitk.Cast(noise, sitk.sitkFloat32), "MR of noise")
    panel.ui.ctVolumeSelector.setCurrentNode(ct)
    panel.ui.mrVolumeSelector.setCurrentNode(mr)
    panel.choose(panel.ui.preset, "fast")
    _register(panel)
    assert "LOW CONFIDENCE" in panel.ui.statusLabel.text
    assert "normalised MI" in panel.ui.statusLabel.toolTip
    assert "warning: low confidence" in panel.ui.logTextEdit.toPlainText()


def test_export_to_dicom_from_the_panel_writes_the_registration_and_the_registered_mr(
    panel, slicer, dicom_pair, tmp_path, slot_errors
):
    folder, ct_uids, mr_uids = dicom_pair
    ui = panel.ui
    ct = volume_node_added_from_dicom(slicer.mrmlScene, folder / "ct", "CT")
    mr = volume_node_added_from_dicom(slicer.mrmlScene, folder / "mr", "MR")
    ui.ctVolumeSelector.setCurrentNode(ct)
    ui.mrVolumeSelector.setCurrentNode(mr)
    panel.choose(ui.preset, "fast")
    assert not ui.exportDicomButton.enabled  # nothing registered yet
    ui.registerButton.click()
    panel.wait_for_job()
    assert ui.exportDicomButton.enabled
    exports = tmp_path / "exports"
    exports.mkdir()
    assert ui.dicomExportFolderLineEdit.text == ""  # empty: the DICOM database, where Slicer has one open
    ui.dicomExportFolderLineEdit.setText(str(exports))
    assert panel.parameters.dicomExportFolder == str(exports)
    ui.exportDicomButton.click()
    assert slot_errors == []
    (written,) = list(exports.iterdir())
    found = by_sop_class(written)
    ((_, reg),) = found[SPATIAL_REGISTRATION]
    assert reg.StudyInstanceUID == ct_uids["study"]
    assert {i.FrameOfReferenceUID for i in reg.RegistrationSequence} == {ct_uids["frame"], mr_uids["frame"]}
    assert len(found[MR_IMAGE]) == ct.GetImageData().GetDimensions()[2]
    assert f"{len(found[MR_IMAGE])} MR images to {written}" in ui.statusLabel.text  # no fused volume yet
