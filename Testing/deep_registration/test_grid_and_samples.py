"""Deep registration building blocks on real images: network-grid intensities and features, Harvard stacks,
training samples whose targets are exact inverses (checked against SimpleITK), and a tiny training run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

torch = pytest.importorskip("torch", reason="torch is not installed")

from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.datasets.registration_pairs import HARVARD_SPACING_MM, harvard_pairs, transformed_pair
from CTMRFusionLib.deep_registration.grid import (
    FEATURES,
    NetworkGrid,
    feature_channels,
    resample_to_grid,
    unit_intensities,
)
from CTMRFusionLib.deep_registration.loss import intra_modality_loss
from CTMRFusionLib.deep_registration.samples import MoveRange, body_points, displacement_error, draw_sample, source_cube
from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.ml.model_cards import load_record, render
from CTMRFusionLib.registration.landmark_fit import fit_rigid_transform
from CTMRFusionLib.registration.tre import match_landmarks
from support.data import shared_path


@pytest.fixture(scope="module")
def demo_aligned(sample):
    """The bundled pair made aligned by the rigid fit to its 14 verified landmarks (not by our registration)."""
    ct, mr = sitk.ReadImage(str(sample.ct)), sitk.ReadImage(str(sample.mr))
    _, ct_points, mr_points = match_landmarks(read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks))
    return transformed_pair("demo", ct, mr, fit_rigid_transform(ct_points, mr_points))


def test_unit_intensities_follow_the_documented_windows():
    hu = sitk.GetImageFromArray(np.array([[[-1000, -100, 50, 200, 1500]]], np.int16))
    np.testing.assert_allclose(sitk.GetArrayFromImage(unit_intensities(hu, "ct")).ravel(), [0, 0, 0.5, 1, 1], atol=1e-6)
    eight_bit = sitk.GetImageFromArray(np.array([[[0, 51, 255]]], np.uint8))
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(unit_intensities(eight_bit, "mr")).ravel(), [0, 0.2, 1], atol=1e-6
    )


def test_feature_channels_on_the_real_ct(demo_aligned):
    grid = NetworkGrid(tuple(demo_aligned.center)).image()
    unit = resample_to_grid(demo_aligned.ct, grid)
    raw, sobel, canny, lowpass, slic = feature_channels(unit, FEATURES)
    assert raw.shape == (40, 40, 40) and 0.02 < raw.mean() < 0.5
    body = raw > 0.3
    edge = body ^ (np.roll(body, 1, 0) & np.roll(body, -1, 0) & np.roll(body, 1, 1) & np.roll(body, -1, 1))
    assert sobel[edge].mean() > 3 * sobel[~edge].mean()  # gradients sit on the outlines
    assert set(np.unique(canny)) <= {0.0, 1.0} and 0.005 < canny.mean() < 0.3
    variation = [np.abs(np.diff(a, axis=0)).mean() for a in (raw, lowpass)]
    assert variation[1] < 0.6 * variation[0]  # low-pass is smoother
    assert len(np.unique(slic)) < raw.size / 20 and abs(slic.mean() - raw.mean()) < 0.01  # superpixel means


def test_samples_are_the_move_simpleitk_makes_and_targets_invert_it(demo_aligned):
    cube = source_cube(demo_aligned)
    sample = draw_sample(cube, torch.Generator().manual_seed(3), MoveRange(), augment=False)
    # The moved MR is what SimpleITK's Resample makes of the source cube through the same Euler3D move.
    reference = sitk.GetImageFromArray(cube.mr[0].numpy())
    reference.SetOrigin(cube.grid.origin)
    reference.SetSpacing(cube.grid.spacing)
    target_grid = sitk.Image([40] * 3, sitk.sitkFloat32)
    target_grid.SetOrigin(sample.grid.origin)
    target_grid.SetSpacing(sample.grid.spacing)
    move = sitk.Euler3DTransform(
        sample.center.tolist(), *sample.move[:3].double().tolist(), sample.move[3:].double().tolist()
    )
    expected = sitk.GetArrayFromImage(sitk.Resample(reference, target_grid, move, sitk.sitkLinear, 0.0))
    np.testing.assert_allclose(sample.mr_moved.numpy(), expected, atol=2e-4)
    # target = parameters of the inverse move: composing them gives the identity.
    inverse = sitk.Euler3DTransform(
        sample.center.tolist(), *sample.target[:3].double().tolist(), sample.target[3:].double().tolist()
    )
    np.testing.assert_allclose(sitk_transform_to_matrix(move) @ sitk_transform_to_matrix(inverse), np.eye(4), atol=1e-4)
    points = body_points(sample)
    assert displacement_error(sample.target.numpy(), sample.target.numpy(), sample.center, points) == 0.0
    start = displacement_error(np.zeros(6), sample.target.numpy(), sample.center, points)
    assert start > 10
    at_target = intra_modality_loss(
        sample.ct,
        sample.mr,
        sample.ct_moved,
        sample.mr_moved,
        sample.grid,
        sample.target[:3],
        sample.target[3:],
        sample.center,
    )[0]
    at_identity = intra_modality_loss(
        sample.ct,
        sample.mr,
        sample.ct_moved,
        sample.mr_moved,
        sample.grid,
        torch.zeros(3),
        torch.zeros(3),
        sample.center,
    )[0]
    assert float(at_target) < 0.05 and float(at_identity) > float(at_target) + 0.2


def test_augmented_input_keeps_the_loss_volumes_clean(demo_aligned):
    cube = source_cube(demo_aligned, ("raw", "sobel"))
    sample = draw_sample(cube, torch.Generator().manual_seed(5), MoveRange(), augment=True)
    assert sample.inputs.shape == (4, 40, 40, 40)
    clean = draw_sample(cube, torch.Generator().manual_seed(5), MoveRange(), augment=False)
    assert torch.equal(sample.mr_moved, clean.mr_moved)  # same move: the loss sees un-augmented volumes
    assert not torch.allclose(sample.inputs[0], clean.inputs[0])  # the network input is augmented


@pytest.mark.real_data
def test_harvard_cases_stack_into_volumes():
    pairs = harvard_pairs(shared_path("harvard_ctmri"), ["33"])
    ct = pairs["33"].ct
    assert ct.GetSize()[:2] == (256, 256) and ct.GetSize()[2] == 17
    assert ct.GetSpacing() == HARVARD_SPACING_MM and ct.GetDirection()[8] == -1.0
    assert 0.0 <= sitk.GetArrayViewFromImage(ct).min() and sitk.GetArrayViewFromImage(ct).max() <= 1.0
    centre = pairs["33"].center
    assert np.all(np.abs(centre[:2] - np.array([128, 128]) * 0.9) < 40)  # the head is near the slice centre


def _config(tmp_path, steps, **changes):
    from CTMRFusionLib.deep_registration.training import RegistrationTrainingConfig

    settings = dict(
        grid_size=40, spacing_mm=10.0, width=2, batch_size=2, validation_moves=1, validate_every=2, threads=1
    )
    settings.update(changes)
    return RegistrationTrainingConfig(
        data=str(shared_path("harvard_ctmri")), output=str(tmp_path), steps=steps, **settings
    )


@pytest.mark.slow
@pytest.mark.real_data
def test_training_resumes_exactly_and_exports_a_checked_model(tmp_path):
    from CTMRFusionLib.core.errors import InvalidInputError
    from CTMRFusionLib.deep_registration.export import export_final
    from CTMRFusionLib.deep_registration.model import load_registration_model
    from CTMRFusionLib.deep_registration.training import train

    straight = train(_config(tmp_path / "straight", 4), show_progress=False)
    train(_config(tmp_path / "resumed", 4, stop_after=2), show_progress=False)
    assert not (tmp_path / "resumed" / "final.pt").exists()
    resumed = train(_config(tmp_path / "resumed", 4), show_progress=False, resume=True)
    losses = [v["train_loss"] for v in straight["validations"]]
    assert [v["train_loss"] for v in resumed["validations"]] == pytest.approx(losses, rel=1e-3)
    assert straight["validations"][-1]["start_mean_error_mm"] > 20  # validation moves are real misalignments

    model_path = tmp_path / "net.pt"
    digest = export_final(tmp_path / "straight", model_path, straight)
    card = model_path.with_suffix(".md").read_text()
    assert digest in card and "ctmrfusion train-registration" in card and "--grid-size 40" in card
    assert render(load_record(model_path)) == card  # generated from the record written beside the model
    model = load_registration_model(model_path, "cpu", expected_sha256=digest)
    assert model.metadata["grid_size"] == 40 and model.features == ("raw",)
    assert model.predict(np.zeros((2, 40, 40, 40), np.float32)).shape == (6,)
    data = bytearray(model_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_path.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match="corrupted or altered"):
        load_registration_model(model_path, "cpu", expected_sha256=digest)
    history = json.loads((tmp_path / "straight" / "history.json").read_text())
    assert history["config"]["loss"] == "hybrid" and len(history["validations"]) == 2
