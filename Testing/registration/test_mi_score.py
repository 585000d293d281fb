"""The fast MI score used to rank starts (search candidates, start selection), on the real sample pair: it must
rank poses as SimpleITK's Mattes MI does, be lowest at the landmark truth, drop what falls outside the MR (or
its mask) and refuse a sliver of overlap."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.stats import spearmanr

from CTMRFusionLib.core.frames import matrix_to_sitk_euler, sitk_transform_to_matrix
from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.registration.landmark_fit import fit_rigid_transform
from CTMRFusionLib.registration.mi_refinement import metric_method
from CTMRFusionLib.registration.mi_score import MutualInformationScore
from CTMRFusionLib.registration.options import RegistrationOptions
from CTMRFusionLib.registration.orientation_search import SEARCH_SAMPLES, SearchCandidate, candidate_rotations
from CTMRFusionLib.registration.preparation import prepare_pair
from CTMRFusionLib.registration.tre import match_landmarks
from support.ground_truth import rigid_matrix


@pytest.fixture(scope="module")
def search_grid(demo_images):
    pair = prepare_pair(*demo_images, RegistrationOptions())
    return pair, *pair.search_grid(6.0)


@pytest.fixture(scope="module")
def truth(sample):
    """CT→MR (LPS) 4×4 least-squares rigid fit of the 14 verified landmark pairs."""
    _, ct_points, mr_points = match_landmarks(read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks))
    return sitk_transform_to_matrix(fit_rigid_transform(ct_points, mr_points))


def _sitk_mattes(fixed, moving, mask, transform) -> float:
    method = metric_method(fixed, mask, None, RegistrationOptions(), gradient_images=False)
    method.SetInitialTransform(transform, inPlace=False)
    return float(method.MetricEvaluate(fixed, moving))


def test_ranks_the_search_candidates_as_sitk_mattes_does(search_grid):
    """All 168 axis-aligned and tilted rotations of the search about the body centroids: the ranking by this
    score is SimpleITK's Mattes MI ranking (Spearman > 0.99) and the best five are the same."""
    pair, fixed, moving, mask = search_grid
    score = MutualInformationScore(fixed, moving, mask, 64, SEARCH_SAMPLES, 42)
    translation = pair.moving_center - pair.fixed_center
    transforms = [
        SearchCandidate(rotation, translation, np.nan).transform(pair.fixed_center)
        for rotation in candidate_rotations(30.0)
    ]
    ours = np.array([score(t) for t in transforms])
    mattes = np.array([_sitk_mattes(fixed, moving, mask, t) for t in transforms])
    assert np.all(np.isfinite(ours)) and np.all(np.isfinite(mattes))
    assert spearmanr(ours, mattes).correlation > 0.99
    assert set(np.argsort(ours)[:5]) == set(np.argsort(mattes)[:5])


def test_is_lowest_at_the_landmark_truth_and_refuses_a_sliver_of_overlap(search_grid, truth):
    pair, fixed, moving, mask = search_grid
    score = MutualInformationScore(fixed, moving, mask, 64, SEARCH_SAMPLES, 42)
    center = pair.fixed_center
    at_truth = score(matrix_to_sitk_euler(truth, center))
    for angles, shift in (((0, 0, 0), (15, 0, 0)), ((0, 0, 0), (0, 0, -15)), ((12, 0, 0), (0, 0, 0))):
        moved = rigid_matrix(angles, shift, center_lps=center) @ truth
        assert score(matrix_to_sitk_euler(moved, center)) > at_truth + 0.1  # measured 0.17-0.44
    far = rigid_matrix((0, 0, 0), (0, 0, 1000), center_lps=center) @ truth
    assert score(matrix_to_sitk_euler(far, center)) == np.inf
    assert score.sample_count == SEARCH_SAMPLES


def test_an_mr_mask_drops_the_samples_outside_it(search_grid, truth):
    """An MR mask of the upper half of the MR (LPS z above its centre): the score changes, and a mask that
    leaves under a tenth of the samples makes the pose unscorable."""
    pair, fixed, moving, mask = search_grid
    transform = matrix_to_sitk_euler(truth, pair.fixed_center)
    array = np.zeros(sitk.GetArrayViewFromImage(moving).shape, np.uint8)
    array[array.shape[0] // 2 :] = 1
    half = sitk.GetImageFromArray(array)
    half.CopyInformation(moving)
    whole = MutualInformationScore(fixed, moving, mask, 64, SEARCH_SAMPLES, 42)(transform)
    masked = MutualInformationScore(fixed, moving, mask, 64, SEARCH_SAMPLES, 42, half)(transform)
    assert np.isfinite(masked) and abs(masked - whole) > 0.01
    array[:] = 0
    array[:, :2, :2] = 1
    corner = sitk.GetImageFromArray(array)
    corner.CopyInformation(moving)
    assert MutualInformationScore(fixed, moving, mask, 64, SEARCH_SAMPLES, 42, corner)(transform) == np.inf
