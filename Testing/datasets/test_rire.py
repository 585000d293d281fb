"""RIRE .standard reader and RIRE-style TRE, against the Euler3D fit shipped with RIRE patient 001."""

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.io.landmark_files import LandmarkError
from CTMRFusionLib.registration.landmark_fit import fit_rigid_transform
from support.data import shared_path
from support.rire import read_rire_standard


@pytest.mark.real_data
def test_reads_the_eight_ct_corners_and_their_mr_positions():
    standard = read_rire_standard(shared_path("rire_001", "ct_T1.standard"))
    assert (standard.source, standard.target, standard.patient) == ("CT", "mr_T1", "001")
    assert standard.source_points.shape == (8, 3)
    np.testing.assert_allclose(standard.source_points[7], [333.987, 333.987, 112.0])
    np.testing.assert_allclose(standard.target_points[0], [5.0369, -17.4970, -27.1650])


@pytest.mark.real_data
def test_ground_truth_transform_has_sub_millimetre_rire_error_and_our_fit_matches_it():
    standard = read_rire_standard(shared_path("rire_001", "ct_T1.standard"))
    truth = sitk.ReadTransform(str(shared_path("rire_001", "training_001_ct_to_mr_T1_ground_truth.tfm")))
    assert standard.errors(truth).max() < 0.05
    assert standard.errors(sitk.Transform()).mean() > 20  # identity is far off: the metric can fail
    fit = fit_rigid_transform(standard.source_points, standard.target_points)
    np.testing.assert_allclose(standard.errors(fit), standard.errors(truth), atol=0.02)


def test_non_rire_file_is_refused(tmp_path):
    path = tmp_path / "x.standard"
    path.write_text("hello\n")
    with pytest.raises(LandmarkError, match="no point rows"):
        read_rire_standard(path)
