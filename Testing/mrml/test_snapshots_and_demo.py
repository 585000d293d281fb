"""Headless snapshots of Slicer's views from the command line, and the README's demo command."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.mrml.tables import COLUMNS, fill_tre_table
from CTMRFusionLib.registration.landmark_fit import fit_rigid_transform
from CTMRFusionLib.registration.tre import match_landmarks, target_registration_error
from support.commands import ctmrfusion


def _png(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(float)


def _colour_shares(pixels):
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    lit = pixels.sum(axis=2) > 60
    purple = lit & (r > g * 1.3) & (b > g * 1.3)
    green = lit & (g > r * 1.3) & (g > b * 1.3)
    return lit.mean(), purple.mean(), green.mean()


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory, sample):
    out = tmp_path_factory.mktemp("snapshots")
    _, ct_points, mr_points = match_landmarks(read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks))
    sitk.WriteTransform(fit_rigid_transform(ct_points, mr_points), str(out / "landmark_fit.tfm"))
    run = ctmrfusion(
        "snapshot", "--ct", sample.ct, "--mr", sample.mr, "--transform", out / "landmark_fit.tfm", "--out", out / "png"
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return out / "png"


@pytest.mark.slow
def test_snapshot_writes_blend_checkerboard_and_3d_views(snapshot_dir):
    names = sorted(p.stem for p in snapshot_dir.glob("*.png"))
    assert names == sorted(
        [f"{m}_{o}" for m in ("blend", "checkerboard") for o in ("axial", "sagittal", "coronal")] + ["fused_3d"]
    )


@pytest.mark.slow
def test_blend_snapshots_show_purple_ct_and_green_mr(snapshot_dir):
    for orientation in ("axial", "sagittal", "coronal"):
        lit, purple, green = _colour_shares(_png(snapshot_dir / f"blend_{orientation}.png"))
        assert lit > 0.2 and purple > 0.002 and green > 0.002, (orientation, lit, purple, green)


@pytest.mark.slow
def test_checkerboard_snapshot_is_grey_squares_not_the_blend(snapshot_dir):
    board = _png(snapshot_dir / "checkerboard_axial.png")
    assert np.abs(board[..., 0] - board[..., 1]).max() <= 2  # greyscale
    assert board.std() > 10
    assert not np.array_equal(board, _png(snapshot_dir / "blend_axial.png"))


@pytest.mark.slow
def test_3d_snapshot_is_not_empty(snapshot_dir):
    pixels = _png(snapshot_dir / "fused_3d.png")
    background = np.median(pixels[0], axis=0)
    assert (np.abs(pixels - background).sum(axis=2) > 30).mean() > 0.05


def test_snapshot_refuses_bad_opacity(tmp_path, sample):
    run = ctmrfusion("snapshot", "--ct", sample.ct, "--mr", sample.mr, "--out", tmp_path, "--opacity", "2")
    assert run.returncode == 2 and "--opacity must be between 0 and 1" in run.stderr


@pytest.mark.slow
def test_demo_leaves_report_transform_volume_and_pictures(demo_run):
    run, tmp_path = demo_run
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((tmp_path / "registration_report.json").read_text())
    assert report["tre"]["after"]["mean_mm"] <= 2.5
    assert (tmp_path / "mr_to_ct.h5").is_file() and (tmp_path / "mr_on_ct.nrrd").is_file()
    assert len(list((tmp_path / "snapshots").glob("*.png"))) == 7
    # The demo also fuses the registered pair: every method's volume on the CT grid, and the montage.
    ct = sitk.ReadImage(str(tmp_path / "mr_on_ct.nrrd"))
    for method in ("max", "gff", "unet"):
        fused = sitk.ReadImage(str(tmp_path / f"fused_{method}.nrrd"))
        assert fused.GetSize() == ct.GetSize()
        assert 0 <= sitk.GetArrayViewFromImage(fused).min() and sitk.GetArrayViewFromImage(fused).max() <= 255
    montage = sitk.ReadImage(str(tmp_path / "fusion_montage.png"))
    assert montage.GetPixelID() == sitk.sitkUInt8 and montage.GetSize()[0] > 4 * ct.GetSize()[0]
    assert "TCIA MRI-DIR" in run.stdout  # the sample data's attribution
    # A successful run prints no VTK error (they came from finalizing views with their renderers attached).
    assert "ERR|" not in run.stderr and "ERROR: In" not in run.stderr, run.stderr[-2000:]


def test_tre_table_rows_match_an_independent_computation(scene, sample):
    ct, mr = read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    _, ct_points, mr_points = match_landmarks(ct, mr)
    fit = fit_rigid_transform(ct_points, mr_points)
    table = scene.AddNewNodeByClass("vtkMRMLTableNode")
    fill_tre_table(table, target_registration_error(fit, ct, mr))
    # Independent: apply the fit's matrix with numpy.
    rotation = np.array(fit.GetMatrix()).reshape(3, 3)
    center = np.array(fit.GetCenter())
    mapped = (ct_points - center) @ rotation.T + center + np.array(fit.GetTranslation())
    expected = np.linalg.norm(mapped - mr_points, axis=1)
    vtk_table = table.GetTable()
    assert [vtk_table.GetColumn(c).GetName() for c in range(3)] == list(COLUMNS)
    assert vtk_table.GetNumberOfRows() == 14 + 3
    after = np.array([vtk_table.GetValue(r, 2).ToDouble() for r in range(14)])
    np.testing.assert_allclose(after, expected, atol=1e-9)
    assert vtk_table.GetValue(14, 0).ToString() == "mean"
    assert vtk_table.GetValue(14, 2).ToDouble() == pytest.approx(expected.mean())
    assert vtk_table.GetValue(16, 2).ToDouble() == pytest.approx(expected.max())
