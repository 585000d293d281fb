"""logic.fuseVolumes on Slicer's real scene with the bundled CT/MR pair (MR put on the CT by its landmarks)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.core.progress import Cancelled, CancelToken
from CTMRFusionLib.imaging.body_mask import body_mask
from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.mrml import bridge as mrml_bridge
from CTMRFusionLib.mrml.logic import CTMRFusionLogic, FusionOptions
from CTMRFusionLib.registration.landmark_fit import fit_rigid_transform
from CTMRFusionLib.registration.tre import match_landmarks


@pytest.fixture(scope="module")
def registered_pair(sample):
    """CT (HU) and the MR resampled onto it by the rigid fit of the 14 landmark pairs (ground truth)."""
    ct, mr = sitk.ReadImage(str(sample.ct)), sitk.ReadImage(str(sample.mr))
    _, ct_points, mr_points = match_landmarks(read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks))
    transform = fit_rigid_transform(ct_points, mr_points)
    return ct, sitk.Resample(mr, ct, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def _node(scene, image, name):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    node.SetName(name)
    mrml_bridge.update_volume_node_from_sitk(node, image)
    return node


def _check_fused(fused: sitk.Image, ct: sitk.Image, mr_on_ct: sitk.Image, method: str, bright_bone: bool):
    assert fused.GetSize() == ct.GetSize()
    np.testing.assert_allclose(fused.GetOrigin(), ct.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(fused.GetSpacing(), ct.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(fused.GetDirection(), ct.GetDirection(), atol=1e-6)
    values = sitk.GetArrayFromImage(fused)
    hu = sitk.GetArrayFromImage(ct)
    mr = sitk.GetArrayFromImage(mr_on_ct)
    assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 255
    inside = sitk.GetArrayFromImage(sitk.Resample(body_mask(ct), ct, sitk.Transform(), sitk.sitkNearestNeighbor)) > 0
    bone = inside & (hu > 500)
    soft = inside & (hu > -50) & (hu < 100) & (mr > 0)
    assert bone.sum() > 1000 and soft.sum() > 10000
    if bright_bone:  # bone bright where the CT has bone (average and GFF blend it with the MR's dark bone)
        assert np.median(values[bone]) > 200 > np.percentile(values[soft], 90), method
    # Soft tissue: the fused contrast follows the MR (where CT is nearly flat in the brain window).
    assert np.corrcoef(values[soft], mr[soft])[0, 1] > 0.55, method


@pytest.mark.slow
def test_fuse_volumes_with_the_unet_on_the_bundled_pair(scene, registered_pair):
    pytest.importorskip("torch")
    ct, mr_on_ct = registered_pair
    ct_node, mr_node = _node(scene, ct, "CT"), _node(scene, mr_on_ct, "MR on CT")
    before = sitk.GetArrayFromImage(mrml_bridge.volume_node_to_sitk(mr_node)).copy()
    events = []
    output = CTMRFusionLogic(scene).fuseVolumes(
        ctVolumeNode=ct_node, mrVolumeNode=mr_node, options=FusionOptions(device="cpu"), progress=events.append
    )
    assert output.GetName().startswith("CT-MR fused (unet)")
    _check_fused(mrml_bridge.volume_node_to_sitk(output), ct, mr_on_ct, "unet", bright_bone=True)
    assert events[-1].fraction == pytest.approx(1.0) and {e.stage for e in events} == {"fuse"}
    np.testing.assert_array_equal(before, sitk.GetArrayFromImage(mrml_bridge.volume_node_to_sitk(mr_node)))


@pytest.mark.parametrize("method", ["max", "average", "laplacian", "gff"])
def test_fuse_volumes_with_classic_rules(scene, registered_pair, method):
    ct, mr_on_ct = registered_pair
    output = CTMRFusionLogic(scene).fuseVolumes(
        _node(scene, ct, "CT"), _node(scene, mr_on_ct, "MR"), options=FusionOptions(method=method)
    )
    _check_fused(mrml_bridge.volume_node_to_sitk(output), ct, mr_on_ct, method, bright_bone=method == "max")


def test_cancel_and_bad_inputs_leave_the_scene_unchanged(scene, registered_pair):
    ct, mr_on_ct = registered_pair
    ct_node, mr_node = _node(scene, ct, "CT"), _node(scene, mr_on_ct, "MR")
    logic = CTMRFusionLogic(scene)
    count = scene.GetNumberOfNodes()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        logic.fuseVolumes(ct_node, mr_node, options=FusionOptions(method="gff"), cancel=token)
    with pytest.raises(ValueError, match="Unknown fusion method 'blend'"):
        logic.fuseVolumes(ct_node, mr_node, options=FusionOptions(method="blend"))
    with pytest.raises(ValueError, match="also an input"):
        logic.fuseVolumes(ct_node, mr_node, outputVolumeNode=mr_node, options=FusionOptions(method="max"))
    nan_mr = sitk.Cast(mr_on_ct, sitk.sitkFloat32)
    nan_mr[10, 10, 10] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        logic.fuseVolumes(ct_node, _node(scene, nan_mr, "NaN MR"), options=FusionOptions(method="max"))
    assert scene.GetNumberOfNodes() == count + 1  # only the NaN MR input added above


def test_classic_fusion_works_without_torch(tmp_path):
    """With torch unimportable, the rules still fuse and the U-Net gives an error that says what to do."""
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, SimpleITK as sitk\n"
        "from CTMRFusionLib.fusion.pipeline import fuse_images\n"
        "from CTMRFusionLib.core.checks import InvalidInputError\n"
        "a = sitk.GetImageFromArray(np.full((64, 64), 10, np.uint8))\n"
        "b = sitk.GetImageFromArray(np.tile(np.arange(64, dtype=np.uint8), (64, 1)))\n"
        "out = fuse_images(a, b, 'max')\n"
        "print(int(sitk.GetArrayFromImage(out).min()))\n"
        "try:\n    fuse_images(a, b, 'unet')\nexcept InvalidInputError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "10"  # max of a flat 10 and a 0…63 ramp
    assert "needs PyTorch" in lines[1]


@pytest.mark.slow
def test_unet_fusion_reports_each_slice_batch_and_a_cancel_stops_it_within_one(scene, registered_pair):
    """The panel's and the console's U-Net fusion: one progress line per slice batch (the share of slices done),
    and a cancel pressed during a batch stops the run before the next one, leaving the scene as it was."""
    pytest.importorskip("torch")
    ct, mr_on_ct = registered_pair
    ct_node, mr_node = _node(scene, ct, "CT"), _node(scene, mr_on_ct, "MR on CT")
    logic, count, token, batches = CTMRFusionLogic(scene), scene.GetNumberOfNodes(), CancelToken(), []

    def on_progress(event):
        if event.message.startswith("U-Net"):
            batches.append(event)
            if len(batches) == 2:
                token.cancel()  # pressed while the third batch waits

    with pytest.raises(Cancelled):
        logic.fuseVolumes(
            ct_node, mr_node, options=FusionOptions(device="cpu", batchSize=4), progress=on_progress, cancel=token
        )
    slices = ct.GetSize()[2]
    assert [event.iteration for event in batches] == [4, 8]  # nothing ran after the cancel
    assert [event.fraction for event in batches] == pytest.approx([4 / slices, 8 / slices])
    assert scene.GetNumberOfNodes() == count
