"""Display modes on Slicer's real scene and displayable managers, checked on offscreen-rendered pixels.

The registered MR comes from the least-squares fit to the verified landmarks (independent of the
registration code), resampled on the CT grid.
"""

import numpy as np
import pytest
import SimpleITK as sitk
import vtk
from vtk.util import numpy_support

from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.mrml import display
from CTMRFusionLib.mrml.bridge import volume_node_to_sitk
from CTMRFusionLib.mrml.snapshots import (
    add_volume,
    close_views,
    create_views,
    fit_slice_views,
    grab,
    offscreen_app,
    renders_blocked,
)
from CTMRFusionLib.mrml.volume_rendering import show_fused_in_3d
from CTMRFusionLib.registration.landmark_fit import fit_rigid_transform
from CTMRFusionLib.registration.tre import match_landmarks


@pytest.fixture(scope="module")
def images(sample):
    ct = sitk.ReadImage(str(sample.ct))
    mr = sitk.ReadImage(str(sample.mr))
    _, ct_points, mr_points = match_landmarks(read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks))
    mr_on_ct = sitk.Resample(mr, ct, fit_rigid_transform(ct_points, mr_points), sitk.sitkLinear, 0.0, mr.GetPixelID())
    return ct, mr_on_ct


@pytest.fixture(scope="module")
def rendered(images):
    app = offscreen_app()
    views = create_views(app, (256, 256))
    ct_node = add_volume(app.scene, images[0], "CT")
    mr_node = add_volume(app.scene, images[1], "MR registered")
    yield app, views, ct_node, mr_node
    close_views(views)


def normalised(image):
    low, high = display.robust_window(image)
    return np.clip((sitk.GetArrayViewFromImage(image).astype(np.float32) - low) / (high - low), 0, 1)


def pixel_voxels(view, image, shape):
    """For each pixel of a rendered slice view: the (k, j, i) voxel of ``image`` under it, or -1 outside."""
    slice_node = view._logic.GetSliceNode()
    xy_to_ras = np.array(slice_node.GetXYToRAS().GetData()).reshape(4, 4)
    height, width = shape
    x, y = np.meshgrid(np.arange(width), np.arange(height)[::-1])  # grabbed rows start at the top
    ras = np.stack([x.ravel(), y.ravel(), np.zeros(x.size), np.ones(x.size)]).T @ xy_to_ras.T
    lps = ras[:, :3] * [-1, -1, 1]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    index = np.rint((lps - image.GetOrigin()) @ direction / image.GetSpacing()).astype(int)
    inside = np.all((index >= 0) & (index < image.GetSize()), axis=1)
    index[~inside] = -1
    return index[:, ::-1].reshape(height, width, 3), inside.reshape(height, width)


def test_blend_puts_purple_ct_under_green_mr_in_every_slice_view(rendered):
    app, views, ct_node, mr_node = rendered
    display.show_blend(ct_node, mr_node, opacity=0.4)
    composites = display.slice_composite_nodes(app.scene)
    assert len(composites) == 3
    for composite in composites:
        assert composite.GetBackgroundVolumeID() == ct_node.GetID()
        assert composite.GetForegroundVolumeID() == mr_node.GetID()
        assert composite.GetForegroundOpacity() == pytest.approx(0.4)
        assert composite.GetLinkedControl()
    ct_colors = ct_node.GetDisplayNode().GetColorNode()
    assert ct_colors.GetName() == "CTMRFusion CT purple"
    top = [0.0] * 4
    ct_colors.GetColor(255, top)
    np.testing.assert_allclose(top[:3], display.CT_COLOR, atol=1 / 255)  # tables hold 8-bit colours


def test_blend_pixels_are_purple_on_ct_bone_and_green_on_mr_soft_tissue(rendered, images):
    app, views, ct_node, mr_node = rendered
    display.show_blend(ct_node, mr_node, opacity=0.5)
    fit_slice_views(views)
    pixels = grab(views["Red"]).astype(float)
    voxels, inside = pixel_voxels(views["Red"], images[0], pixels.shape[:2])
    ct_n, mr_n = normalised(images[0]), normalised(images[1])
    k, j, i = voxels[..., 0], voxels[..., 1], voxels[..., 2]
    ct_here = np.where(inside, ct_n[k, j, i], 0)
    mr_here = np.where(inside, mr_n[k, j, i], 0)
    bone = inside & (ct_here > 0.8) & (mr_here < 0.3)
    soft = inside & (mr_here > 0.6) & (ct_here < 0.4)
    assert bone.sum() > 20 and soft.sum() > 200
    r, g, b = (pixels[..., c] for c in range(3))
    assert np.mean(r[bone]) > 1.5 * np.mean(g[bone]) and np.mean(b[bone]) > 1.5 * np.mean(g[bone])
    assert np.mean(g[soft]) > 1.5 * np.mean(r[soft]) and np.mean(g[soft]) > 1.5 * np.mean(b[soft])
    empty = inside & (ct_here == 0) & (mr_here == 0)  # air and padding, below both windows
    assert empty.sum() > 100 and np.percentile(pixels[empty], 99) < 10  # edges blend with neighbours


def test_checkerboard_alternates_ct_and_mr_in_squares_of_the_given_size(rendered, images):
    app, views, ct_node, mr_node = rendered
    node = display.set_mode("checkerboard", ct_node, mr_node, square_mm=15.0)
    board = sitk.GetArrayFromImage(volume_node_to_sitk(node))
    ct_n, mr_n = normalised(images[0]), normalised(images[1])
    # Voxel (k, j, i) lies in cube floor(k*1.5/15) + floor(j*1.5/15) + floor(i*1.5/15): even -> CT, odd -> MR.
    parity = (
        sum(
            np.floor(np.arange(n) * 1.5 / 15.0).astype(int).reshape([-1 if a == axis else 1 for a in range(3)])
            for axis, n in enumerate(board.shape)
        )
        % 2
    )
    np.testing.assert_allclose(board, np.where(parity == 0, ct_n, mr_n), atol=1e-6)
    for composite in display.slice_composite_nodes(app.scene):
        assert composite.GetBackgroundVolumeID() == node.GetID() and composite.GetForegroundVolumeID() is None
    assert node is display.set_mode("checkerboard", ct_node, mr_node, square_mm=15.0)  # reused, not duplicated
    assert grab(views["Red"]).mean() > 5


def test_difference_and_rgb_volumes_hold_the_documented_values(rendered, images):
    app, views, ct_node, mr_node = rendered
    ct_n, mr_n = normalised(images[0]), normalised(images[1])
    difference = sitk.GetArrayFromImage(volume_node_to_sitk(display.difference_volume(ct_node, mr_node)))
    np.testing.assert_allclose(difference, np.abs(ct_n - mr_n), atol=1e-6)
    rgb_node = display.rgb_blend_volume(ct_node, mr_node, opacity=0.25)
    assert rgb_node.IsA("vtkMRMLVectorVolumeNode")
    rgb = rgb_node.GetImageData()
    assert rgb.GetNumberOfScalarComponents() == 3 and rgb.GetScalarType() == vtk.VTK_UNSIGNED_CHAR
    array = numpy_support.vtk_to_numpy(rgb.GetPointData().GetScalars()).reshape(ct_n.shape + (3,))
    expected = 0.75 * ct_n[..., None] * np.array(display.CT_COLOR) + 0.25 * mr_n[..., None] * np.array(display.MR_COLOR)
    assert np.abs(array.astype(float) - expected * 255).max() <= 0.51


def test_modes_needing_the_ct_grid_refuse_an_mr_elsewhere(rendered, sample):
    app, views, ct_node, _ = rendered
    original_mr = add_volume(app.scene, sitk.ReadImage(str(sample.mr)), "MR original")
    with pytest.raises(ValueError, match="'MR original' is not on the CT grid"):
        display.set_mode("checkerboard", ct_node, original_mr)
    with pytest.raises(ValueError, match="Unknown display mode 'overlay'"):
        display.set_mode("overlay", ct_node, original_mr)


def test_3d_view_volume_renders_ct_bone_purple_and_mr_soft_tissue_green(rendered):
    app, views, ct_node, mr_node = rendered
    with renders_blocked(views):
        ct_display, mr_display = show_fused_in_3d(app.app_logic.GetModuleLogic("VolumeRendering"), ct_node, mr_node)
        views["ThreeD"].reset_camera()
        views["ThreeD"].reset_view()
        pixels = grab(views["ThreeD"]).astype(float)
    assert ct_display.GetVisibility() and mr_display.GetVisibility()
    background = pixels[:, :4].mean(axis=1, keepdims=True)  # the view's gradient background, row by row
    tint = pixels - background  # what the rendered volumes add to (or take from) the background
    content = np.abs(tint).sum(axis=2) > 30
    assert content.mean() > 0.05, "the 3D view should show the volumes"
    r, g, b = (tint[..., c][content] for c in range(3))
    assert np.mean((g > r) & (g > b)) > 0.05, "some soft tissue should be green"
    assert np.mean((r > g) & (b > g)) > 0.02, "some bone should be purple"
