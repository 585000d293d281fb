"""Classic fusion rules: exact results on small images, and sensible behaviour on real CT/MR slices."""

from __future__ import annotations

import numpy as np
import pytest

from CTMRFusionLib.datasets.atlas_slices import find_pairs, load_arrays, split_by_case
from CTMRFusionLib.fusion import rules as fr
from support.data import shared_path


def test_average_and_max_by_hand():
    a = np.array([[0.0, 100.0], [255.0, 30.0]])
    b = np.array([[50.0, 20.0], [0.0, 40.0]])
    np.testing.assert_array_equal(fr.average(a, b), [[25, 60], [127.5, 35]])
    np.testing.assert_array_equal(fr.maximum(a, b), [[50, 100], [255, 40]])


def test_laplacian_pyramid_reconstructs_exactly_and_keeps_identical_inputs():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (37, 50))  # odd and even sizes
    np.testing.assert_allclose(fr.reconstruct(fr.laplacian_pyramid(image, 4)), image, atol=1e-9)
    np.testing.assert_allclose(fr.laplacian(image, image), image, atol=1e-9)


def test_laplacian_keeps_the_stronger_detail():
    """A textured CT and a flat MR: the detail bands come from the CT, the base is the average."""
    rng = np.random.default_rng(1)
    texture = rng.uniform(-40, 40, (64, 64))
    a, b = 100 + texture, np.full((64, 64), 100.0)
    fused = fr.laplacian(a, b)
    assert np.corrcoef(fused.ravel(), a.ravel())[0, 1] > 0.95
    assert abs(fused.mean() - 100) < 2


def test_guided_filter_preserves_constants_and_gff_identical_inputs():
    rng = np.random.default_rng(2)
    guide = rng.uniform(0, 1, (40, 40))
    np.testing.assert_allclose(fr.guided_filter(np.full((40, 40), 0.3), guide, 5, 0.01), 0.3, atol=1e-9)
    image = rng.uniform(0, 255, (60, 60))
    np.testing.assert_allclose(fr.gff(image, image), image, atol=1e-6)


def test_unknown_rule_is_named():
    with pytest.raises(ValueError, match="Unknown fusion rule 'median'"):
        fr.fuse_slices("median", np.zeros((4, 4)), np.zeros((4, 4)))


@pytest.mark.real_data
def test_rules_on_real_validation_slices_keep_bone_and_soft_tissue():
    """Over all validation slices: bone stays brighter than brain, and MR brain contrast survives (median
    correlation with the MR). The max rule keeps the least MR contrast: it takes the CT wherever the CT's
    brain grey is brighter than the MR."""
    _, validation = split_by_case(find_pairs(shared_path("harvard_ctmri")))
    ct, mr = load_arrays(validation)
    correlations = {}
    for name in fr.RULES:
        values = []
        for a, b in zip(ct.astype(float), mr.astype(float)):
            fused = fr.fuse_slices(name, a, b)
            assert fused.shape == a.shape
            bone, brain = a >= 250, (b > 30) & (a > 60) & (a < 200)
            if bone.sum() > 100 and brain.sum() > 500:
                assert fused[bone].mean() > fused[brain].mean() + 5, name
                values.append(np.corrcoef(fused[brain], b[brain])[0, 1])
        correlations[name] = float(np.median(values))
    assert min(correlations.values()) > 0.6, correlations
    assert correlations["max"] == min(correlations.values()), correlations
