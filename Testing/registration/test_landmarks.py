"""Landmark readers, pairing and target registration error, checked against independent computations."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.io.landmark_files import LandmarkError, LandmarkSet, read_landmarks
from CTMRFusionLib.mrml.markups import fill_markups_node, landmarks_from_markups_node
from CTMRFusionLib.registration.landmark_fit import fit_rigid_transform
from CTMRFusionLib.registration.tre import match_landmarks, target_registration_error
from support.data import shared_path


def test_bundled_json_and_csv_landmarks_agree(sample):
    from_json = read_landmarks(sample.ct_landmarks)
    from_csv = read_landmarks(sample.ct_landmarks.with_name("ct_landmarks_lps.csv"))
    assert from_json.labels == from_csv.labels and len(from_json) == 14
    np.testing.assert_allclose(from_json.points_lps, from_csv.points_lps, atol=1e-3)
    np.testing.assert_allclose(from_json.points_lps[0], [0.358, 70.078, -72.997], atol=1e-3)


def test_ras_files_are_converted_to_lps(tmp_path):
    fcsv = tmp_path / "p.fcsv"
    fcsv.write_text(
        "# Markups fiducial file version = 4.11\n# CoordinateSystem = RAS\n"
        "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
        "a,10,-20,30,0,0,0,1,1,1,0,P1,,\n"
    )
    json_path = tmp_path / "p.mrk.json"
    json_path.write_text(
        json.dumps(
            {"markups": [{"coordinateSystem": "RAS", "controlPoints": [{"label": "P1", "position": [10, -20, 30]}]}]}
        )
    )
    for path in (fcsv, json_path):
        landmarks = read_landmarks(path)
        assert landmarks.labels == ["P1"]
        np.testing.assert_allclose(landmarks.points_lps[0], [-10, 20, 30])


def test_markups_node_round_trip_uses_world_ras(scene):
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode")
    original = LandmarkSet(["A", "B"], [[1.0, 2.0, 3.0], [-4.0, 5.5, -6.0]])
    fill_markups_node(node, original)
    position = [0.0, 0.0, 0.0]
    node.GetNthControlPointPosition(0, position)
    np.testing.assert_allclose(position, [-1.0, -2.0, 3.0])  # Slicer holds RAS
    back = landmarks_from_markups_node(node)
    assert back.labels == ["A", "B"]
    np.testing.assert_allclose(back.points_lps, original.points_lps)


def test_tre_per_point_and_summary_match_a_direct_computation():
    rng = np.random.default_rng(1)
    fixed = rng.uniform(-50, 50, (6, 3))
    transform = sitk.Euler3DTransform((0, 0, 0), 0.1, -0.2, 0.3, (5, -3, 2))
    rotation = np.array(transform.GetMatrix()).reshape(3, 3)
    noise = rng.normal(0, 1.0, (6, 3))
    moving = fixed @ rotation.T + np.array([5, -3, 2]) + noise
    labels = [f"L{i}" for i in range(6)]
    tre = target_registration_error(transform, LandmarkSet(labels, fixed), LandmarkSet(labels[::-1], moving[::-1]))
    expected = np.linalg.norm(noise, axis=1)
    np.testing.assert_allclose(tre.after_mm, expected, atol=1e-9)
    np.testing.assert_allclose(tre.before_mm, np.linalg.norm(fixed - moving, axis=1), atol=1e-9)
    assert tre.after["mean_mm"] == pytest.approx(expected.mean())
    assert tre.after["max_mm"] == pytest.approx(expected.max())
    assert tre.after["rms_mm"] == pytest.approx(np.sqrt((expected**2).mean()))


def test_pairing_errors_are_explicit():
    a = LandmarkSet(["1", "2", "3"], np.zeros((3, 3)))
    b = LandmarkSet(["1", "2"], np.zeros((2, 3)))
    with pytest.raises(LandmarkError, match="counts differ: 3 CT points and 2 MR points"):
        match_landmarks(a, b, by="order")
    labels, _, _ = match_landmarks(a, b, by="label")
    assert labels == ["1", "2"]
    with pytest.raises(LandmarkError, match="No landmark label"):
        match_landmarks(a, LandmarkSet(["x"], np.zeros((1, 3))))


def test_unreadable_landmark_files_say_why(tmp_path):
    with pytest.raises(LandmarkError, match="not found"):
        read_landmarks(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,a,b\n1,2,3\n")
    with pytest.raises(LandmarkError, match="needs columns x, y, z"):
        read_landmarks(bad)
    broken = tmp_path / "broken.mrk.json"
    broken.write_text("{not json")
    with pytest.raises(LandmarkError, match="unreadable"):
        read_landmarks(broken)


def test_rigid_fit_reproduces_the_published_lower_bound(sample):
    """The landmark README states the least-squares rigid fit leaves 1.58 mm mean, 1.84 RMS, 3.57 max."""
    tre = target_registration_error(
        sitk.Transform(), read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    )
    labels, ct_points, mr_points = match_landmarks(
        read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    )
    fit = fit_rigid_transform(ct_points, mr_points)
    residual = target_registration_error(
        fit, read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    ).after
    assert residual["mean_mm"] == pytest.approx(1.58, abs=0.01)
    assert residual["rms_mm"] == pytest.approx(1.84, abs=0.01)
    assert residual["max_mm"] == pytest.approx(3.57, abs=0.01)
    assert tre.before["mean_mm"] == pytest.approx(99.97, abs=0.01)


@pytest.mark.real_data
def test_rigid_fit_agrees_with_the_shipped_reference_fit():
    reference = sitk.ReadTransform(str(shared_path("mri_dir_porcine", "landmarks", "reference_rigid_fit_ct_to_mr.tfm")))
    ct = read_landmarks(shared_path("mri_dir_porcine", "landmarks", "ct_landmarks_lps.csv"))
    mr = read_landmarks(shared_path("mri_dir_porcine", "landmarks", "mr_landmarks_lps.csv"))
    _, ct_points, mr_points = match_landmarks(ct, mr)
    fit = fit_rigid_transform(ct_points, mr_points)
    for point in ct_points:
        np.testing.assert_allclose(
            fit.TransformPoint(point.tolist()), reference.TransformPoint(point.tolist()), atol=1e-3
        )
