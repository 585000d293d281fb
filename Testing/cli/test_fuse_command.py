"""``ctmrfusion fuse`` as the held-out checks call it: 2D 8-bit pairs → 8-bit image of the same size; 3D →
the CT's geometry; bad inputs → exit 2 with the reason, and nothing written or overwritten."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.fusion.metrics import all_metrics
from CTMRFusionLib.fusion.model import shipped_model_path
from support.commands import ctmrfusion
from support.data import shared_path

METHODS = ["unet", "max", "average", "laplacian", "gff"]


@pytest.fixture(scope="module")
def harvard_pair():
    root = shared_path("harvard_ctmri")
    return root / "CT" / "37012.png", root / "MRI" / "37012.png"  # a validation case


@pytest.mark.real_data
@pytest.mark.parametrize("method", METHODS)
def test_fuse_2d_png_gives_8bit_same_size(tmp_path, harvard_pair, method):
    if method == "unet":
        pytest.importorskip("torch")
    ct_path, mr_path = harvard_pair
    out = tmp_path / f"fused_{method}.png"
    run = ctmrfusion("fuse", "--ct", ct_path, "--mr", mr_path, "--output", out, "--method", method, "--quiet")
    assert run.returncode == 0, run.stderr
    fused = sitk.ReadImage(str(out))
    ct, mr = sitk.ReadImage(str(ct_path)), sitk.ReadImage(str(mr_path))
    assert fused.GetSize() == ct.GetSize() and fused.GetPixelID() == sitk.sitkUInt8
    f, a, b = (sitk.GetArrayFromImage(i).astype(float) for i in (fused, ct, mr))
    # Same 0–255 scale: CT bone brighter than brain, background dark, and the result carries both sources.
    brain = (a > 60) & (a < 200) & (b > 30)
    assert np.median(f[a == 255]) > np.median(f[brain]) and np.median(f[(a == 0) & (b == 0)]) < 10
    if method in ("unet", "max", "laplacian"):  # average and GFF blend bone with the MR's dark bone
        assert np.median(f[a == 255]) > 200
    metrics = all_metrics(a, b, f)
    assert metrics["SSIM"] > 1.2 and metrics["MI"] > 1.5


def test_fuse_3d_gives_a_volume_in_the_ct_geometry(tmp_path, sample):
    out = tmp_path / "fused.nrrd"
    # The bundled MR is not on the CT grid and not registered: fuse still resamples it onto the CT grid.
    run = ctmrfusion("fuse", "--ct", sample.ct, "--mr", sample.mr, "--output", out, "--method", "max", "--quiet")
    assert run.returncode == 0, run.stderr
    fused, ct = sitk.ReadImage(str(out)), sitk.ReadImage(str(sample.ct))
    assert fused.GetSize() == ct.GetSize() and fused.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_allclose(fused.GetOrigin(), ct.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(fused.GetDirection(), ct.GetDirection(), atol=1e-6)
    values = sitk.GetArrayFromImage(fused)
    assert np.isfinite(values).all() and 0 <= values.min() and values.max() <= 255


def _write(array, path):
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    return path


def _expect_error(tmp_path, message, *args):
    out = tmp_path / "out.png"
    run = ctmrfusion("fuse", "--output", out, "--quiet", *args)
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr, run.stderr
    assert not out.exists()


def test_fuse_bad_inputs_are_named(tmp_path, sample):
    rng = np.random.default_rng(0)
    a = _write(rng.integers(0, 255, (64, 64), dtype=np.uint8), tmp_path / "a.png")
    small = _write(rng.integers(0, 255, (40, 64), dtype=np.uint8), tmp_path / "small.png")
    nan = rng.uniform(0, 255, (64, 64)).astype(np.float32)
    nan[3, 4] = np.nan
    nan_path = _write(nan, tmp_path / "nan.mha")
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    _expect_error(tmp_path, "must have the same size", "--ct", a, "--mr", small, "--method", "max")
    _expect_error(tmp_path, "NaN", "--ct", a, "--mr", nan_path, "--method", "max")
    _expect_error(tmp_path, "cannot read", "--ct", a, "--mr", broken, "--method", "max")
    _expect_error(tmp_path, "CT is 2D and MR is 3D", "--ct", a, "--mr", sample.mr, "--method", "max")
    _expect_error(tmp_path, "not found", "--ct", a, "--mr", tmp_path / "missing.png", "--method", "max")
    # The output may not be an input: refused, and the input is intact.
    before = a.read_bytes()
    run = ctmrfusion("fuse", "--ct", a, "--mr", a, "--output", a, "--method", "max")
    assert run.returncode == 2 and "would overwrite the input file" in run.stderr and a.read_bytes() == before


@pytest.mark.slow
def test_fuse_refuses_corrupted_or_foreign_models(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a = _write(rng.integers(0, 255, (48, 48), dtype=np.uint8), tmp_path / "a.png")
    shipped = shipped_model_path().read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(shipped[: len(shipped) // 2])
    _expect_error(tmp_path, "not a readable TorchScript", "--ct", a, "--mr", a, "--model", truncated)
    flipped = bytearray(shipped)
    flipped[len(flipped) // 2] ^= 0xFF
    altered = tmp_path / "altered.pt"
    altered.write_bytes(bytes(flipped))
    from CTMRFusionLib.ml.registry import model_entry

    SHIPPED_SHA256 = model_entry("fusion_unet").sha256

    _expect_error(
        tmp_path, "corrupted or altered", "--ct", a, "--mr", a, "--model", altered, "--model-sha256", SHIPPED_SHA256
    )
    foreign = tmp_path / "identity.pt"
    torch.jit.script(torch.nn.Identity()).save(str(foreign))
    _expect_error(tmp_path, "without CTMRFusion metadata of kind", "--ct", a, "--mr", a, "--model", foreign)
    random_bytes = tmp_path / "random.pt"
    random_bytes.write_bytes(rng.bytes(4096))
    _expect_error(tmp_path, "not a readable TorchScript", "--ct", a, "--mr", a, "--model", random_bytes)
    copy = tmp_path / "copy.pt"
    shutil.copy(shipped_model_path(), copy)
    run = ctmrfusion("fuse", "--ct", a, "--mr", a, "--output", tmp_path / "ok.png", "--model", copy, "--quiet")
    assert run.returncode == 0, run.stderr


def test_a_16_bit_png_of_an_8_bit_picture_fuses_exactly_as_the_8_bit_file(tmp_path):
    """8-bit values stored in 16 bits are on the fusion scale as they are (issue 34: up to 43 grey levels apart)."""
    rng = np.random.default_rng(4)
    ct, mr = (rng.uniform(0, 255, (64, 64)).astype(np.uint8) for _ in range(2))
    outputs = {}
    for bits, dtype in (("8", np.uint8), ("16", np.uint16)):
        for role, array in (("ct", ct), ("mr", mr)):
            sitk.WriteImage(sitk.GetImageFromArray(array.astype(dtype)), str(tmp_path / f"{role}{bits}.png"))
        output = tmp_path / f"fused{bits}.png"
        run = ctmrfusion(
            "fuse", "--ct", tmp_path / f"ct{bits}.png", "--mr", tmp_path / f"mr{bits}.png", "--output", output
        )
        assert run.returncode == 0, run.stderr
        outputs[bits] = sitk.GetArrayFromImage(sitk.ReadImage(str(output)))
    assert np.array_equal(outputs["8"], outputs["16"])


def test_wide_data_scaled_by_its_own_range_says_so(tmp_path):
    """The same picture spread over 16 bits (× 257) is scaled by its own range, not used as is: one warning line
    per image says so, and the 8-bit file gets none."""
    picture = np.random.default_rng(5).uniform(20, 230, (64, 64)).astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(picture), str(tmp_path / "p8.png"))
    sitk.WriteImage(sitk.GetImageFromArray(picture.astype(np.uint16) * 257), str(tmp_path / "p16.png"))
    for bits, expected in (("8", 0), ("16", 2)):
        image = tmp_path / f"p{bits}.png"
        run = ctmrfusion("fuse", "--ct", image, "--mr", image, "--output", tmp_path / f"f{bits}.png", "--method", "max")
        assert run.returncode == 0, run.stderr
        lines = [line for line in run.stderr.splitlines() if line.startswith("ctmrfusion: warning:")]
        assert len(lines) == expected, run.stderr
        assert all("scaled from its own range" in line for line in lines)


def test_an_image_too_small_for_the_unet_is_refused_naming_its_size_not_the_model(tmp_path):
    for role in ("ct", "mr"):
        sitk.WriteImage(sitk.GetImageFromArray(np.full((1, 1), 7, np.uint8)), str(tmp_path / f"{role}.png"))
    run = ctmrfusion("fuse", "--ct", tmp_path / "ct.png", "--mr", tmp_path / "mr.png", "--output", tmp_path / "f.png")
    assert run.returncode == 2 and "1×1 pixels" in run.stderr and "16×16" in run.stderr
    assert "model" not in run.stderr.lower()
    assert not (tmp_path / "f.png").exists()


def test_the_unet_runs_on_the_threads_asked_and_refuses_zero(tmp_path):
    rng = np.random.default_rng(6)
    for role in ("ct", "mr"):
        sitk.WriteImage(
            sitk.GetImageFromArray(rng.uniform(0, 255, (64, 64)).astype(np.uint8)), str(tmp_path / f"{role}.png")
        )
    arguments = ["fuse", "--ct", tmp_path / "ct.png", "--mr", tmp_path / "mr.png", "--output", tmp_path / "f.png"]
    run = ctmrfusion(*arguments, "--threads", 1)
    assert run.returncode == 0 and "1 thread," in run.stdout, run.stdout
    run = ctmrfusion(*arguments, "--threads", 0)
    assert run.returncode == 2 and "--threads must be from 1" in run.stderr
