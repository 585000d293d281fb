"""The MRML-level logic on a real scene: registerVolumes and computeTRE, outputs, untouched inputs, cancel."""

import numpy as np
import pytest
import SimpleITK as sitk
import vtk

from CTMRFusionLib.core.progress import Cancelled, CancelToken
from CTMRFusionLib.mrml import bridge as mrml_bridge
from CTMRFusionLib.mrml.logic import CTMRFusionLogic
from support.mrml_nodes import markups_node, volume_node


def _snapshot(node):
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return (
        np.array(matrix.GetData()),
        sitk.GetArrayFromImage(mrml_bridge.volume_node_to_sitk(node)).copy(),
        node.GetMTime(),
    )


@pytest.mark.slow
def test_register_volumes_on_the_scene_gives_aligned_outputs_and_landmark_tre(scene, demo_images, sample):
    ct_image, mr_image = demo_images
    ct, mr = volume_node(scene, ct_image, "CT"), volume_node(scene, mr_image, "MR")
    ct_points, mr_points = (
        markups_node(scene, sample.ct_landmarks, "CT-L"),
        markups_node(scene, sample.mr_landmarks, "MR-L"),
    )
    before_ct, before_mr = _snapshot(ct), _snapshot(mr)
    events = []
    logic = CTMRFusionLogic(scene)
    result = logic.registerVolumes(
        ctVolumeNode=ct, mrVolumeNode=mr, ctLandmarksNode=ct_points, mrLandmarksNode=mr_points, progress=events.append
    )

    assert result.tre.before["mean_mm"] > 95 and result.tre.after["mean_mm"] <= 2.5
    assert {e.stage for e in events} == {"initialize", "register", "resample"}
    assert events[-1].fraction == pytest.approx(1.0)
    # Each work function's fraction (the registration's, then the resampling's) never goes back.
    for job in ({"initialize", "register"}, {"resample"}):
        steps = [e for e in events if e.stage in job]
        backwards = [(a.message, b.message) for a, b in zip(steps, steps[1:]) if b.fraction < a.fraction]
        assert not backwards, f"progress went back: {backwards[:3]}"
    # Inputs untouched.
    for before, node in ((before_ct, ct), (before_mr, mr)):
        np.testing.assert_array_equal(before[0], _snapshot(node)[0])
        np.testing.assert_array_equal(before[1], _snapshot(node)[1])
    # The transform node holds the CT→MR transform as FromParent; the TRE through it agrees.
    assert result.transformNode.GetScene() is scene and result.transformNode.GetName() == "MR to CT"
    via_node = logic.computeTRE(ct_points, mr_points, result.transformNode)
    np.testing.assert_allclose(via_node.after_mm, result.tre.after_mm, atol=1e-6)
    # The resampled MR has the CT grid, the MR's type, and matches a linear resample closely inside.
    output = mrml_bridge.volume_node_to_sitk(result.volumeNode)
    assert output.GetSize() == ct_image.GetSize() and output.GetPixelID() == mr_image.GetPixelID()
    np.testing.assert_allclose(output.GetOrigin(), ct_image.GetOrigin(), atol=1e-6)
    linear = sitk.GetArrayFromImage(
        sitk.Resample(mr_image, ct_image, result.transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    )
    sinc = sitk.GetArrayFromImage(output).astype(np.float32)
    inside = linear > 200
    assert inside.mean() > 0.2
    assert np.median(np.abs(sinc[inside] - linear[inside])) < 0.05 * np.median(linear[inside])


@pytest.mark.slow
def test_cancel_leaves_the_scene_as_it_was(scene, demo_images):
    ct, mr = volume_node(scene, demo_images[0], "CT"), volume_node(scene, demo_images[1], "MR")
    output = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    nodes_before = scene.GetNumberOfNodes()
    output_mtime = output.GetMTime()
    token = CancelToken()

    def cancel_at_first_iteration(event):
        if event.stage == "register":
            token.cancel()

    with pytest.raises(Cancelled):
        CTMRFusionLogic(scene).registerVolumes(
            ctVolumeNode=ct,
            mrVolumeNode=mr,
            outputTransformNode=output,
            progress=cancel_at_first_iteration,
            cancel=token,
        )
    assert scene.GetNumberOfNodes() == nodes_before
    assert output.GetMTime() == output_mtime
    assert output.GetMatrixTransformToParent().IsIdentity()


def test_output_node_that_is_an_input_is_refused(scene, demo_images):
    ct, mr = volume_node(scene, demo_images[0], "CT"), volume_node(scene, demo_images[1], "MR")
    before = _snapshot(mr)
    with pytest.raises(ValueError, match="'MR' is also an input"):
        CTMRFusionLogic(scene).registerVolumes(ctVolumeNode=ct, mrVolumeNode=mr, outputVolumeNode=mr)
    np.testing.assert_array_equal(before[1], _snapshot(mr)[1])
