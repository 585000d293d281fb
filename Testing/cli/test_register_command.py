"""The ctmrfusion command line, as the held-out checks call it: files in, ITK transform (CT→MR, LPS) out."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from CTMRFusionLib.io.images import read_image
from CTMRFusionLib.io.landmark_files import read_landmarks
from CTMRFusionLib.registration.tre import target_registration_error
from support.commands import ctmrfusion
from support.data import shared_path


@pytest.fixture(scope="module")
def registered(demo_run):
    """The default registration of the sample pair with landmarks, through the register command's arguments
    (run by ``ctmrfusion demo``, shared by the session): (process, {output role: path})."""
    run, out = demo_run
    files = {"transform": "mr_to_ct.h5", "volume": "mr_on_ct.nrrd", "report": "registration_report.json"}
    return run, {role: out / name for role, name in files.items()}


@pytest.mark.slow
def test_register_writes_a_ct_to_mr_itk_transform_that_resample_uses_directly(registered, sample, demo_images):
    run, out = registered
    assert run.returncode == 0, run.stderr
    transform = sitk.ReadTransform(str(out["transform"]))
    tre = target_registration_error(transform, read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks))
    assert tre.after["mean_mm"] <= 2.5
    ct, mr = demo_images
    via_file = sitk.Resample(mr, ct, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    written = sitk.ReadImage(str(out["volume"]), sitk.sitkFloat32)
    assert written.GetSize() == ct.GetSize()
    a, b = sitk.GetArrayViewFromImage(via_file), sitk.GetArrayViewFromImage(written)
    inside = a > 200
    assert np.corrcoef(a[inside], b[inside])[0, 1] > 0.97


@pytest.mark.slow
def test_report_has_parameters_metric_iterations_timings_and_tre(registered):
    run, out = registered
    report = json.loads(out["report"].read_text())
    assert len(report["parameters"]["angles_rad"]) == 3 and len(report["parameters"]["translation_mm"]) == 3
    assert report["metric"] < -0.5 and report["iterations"] > 0
    assert {"read", "initialize", "resample"} <= set(report["timings_seconds"])
    assert report["tre"]["after"]["mean_mm"] <= 2.5 and len(report["tre"]["points"]) == 14
    assert "Landmark TRE over 14 pairs" in run.stdout
    assert "register" in run.stderr  # progress went to the terminal


def test_help_states_the_transform_convention():
    run = ctmrfusion("register", "--help")
    assert run.returncode == 0
    assert "maps CT (fixed) points" in run.stdout and "sitk.Resample(mr, ct" in run.stdout


def test_bad_input_exits_nonzero_with_a_one_line_reason(tmp_path, sample):
    run = ctmrfusion(
        "register", "--ct", sample.ct, "--mr", tmp_path / "missing.nii.gz", "--transform", tmp_path / "t.tfm"
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"ctmrfusion: error: MR not found: {tmp_path / 'missing.nii.gz'}"]
    assert not (tmp_path / "t.tfm").exists()


def test_mismatched_landmark_counts_are_reported(tmp_path, sample):
    few = tmp_path / "few.csv"
    few.write_text("id,x,y,z\nA,1,2,3\nB,4,5,6\n")
    run = ctmrfusion(
        "register",
        "--ct",
        sample.ct,
        "--mr",
        sample.mr,
        "--transform",
        tmp_path / "t.tfm",
        "--ct-landmarks",
        sample.ct_landmarks,
        "--mr-landmarks",
        few,
        "--pairing",
        "order",
        "--quiet",
    )
    assert run.returncode == 2 and "counts differ: 14 CT points and 2 MR points" in run.stderr


def test_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path, sample):
    copy = tmp_path / "mr.nrrd"
    copy.write_bytes(sample.mr.read_bytes())
    run = ctmrfusion("register", "--ct", sample.ct, "--mr", copy, "--transform", tmp_path / "t.tfm", "--volume", copy)
    assert run.returncode == 2 and "would overwrite the input file" in run.stderr
    assert copy.read_bytes() == sample.mr.read_bytes()


@pytest.mark.real_data
def test_dicom_series_folder_reads_as_the_same_mr():
    dicom = read_image(shared_path("mri_dir_porcine", "mr_t2_dicom"), "MR")
    nrrd = sitk.ReadImage(str(shared_path("mri_dir_porcine", "mr_t2.nrrd")))
    assert dicom.GetSize() == nrrd.GetSize()
    np.testing.assert_allclose(dicom.GetSpacing(), nrrd.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(dicom.GetOrigin(), nrrd.GetOrigin(), atol=1e-3)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(dicom), sitk.GetArrayViewFromImage(nrrd))


def _tre_of(path, sample):
    return target_registration_error(
        sitk.ReadTransform(str(path)), read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    ).after["mean_mm"]


@pytest.mark.real_data
@pytest.mark.slow
def test_registers_an_mr_given_as_a_dicom_series_folder(tmp_path, sample):
    """The full-resolution MR straight from its 94 DICOM files, against the bundled CT."""
    run = ctmrfusion(
        "register",
        "--ct",
        sample.ct,
        "--mr",
        shared_path("mri_dir_porcine", "mr_t2_dicom"),
        "--transform",
        tmp_path / "t.tfm",
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    assert _tre_of(tmp_path / "t.tfm", sample) <= 3.0  # elastix handed the flip: 3.0 mm


@pytest.mark.slow
def test_a_user_ct_mask_is_used(tmp_path, sample, demo_images):
    ct = demo_images[0]
    mask = sitk.Cast(sitk.BinaryDilate(ct > -500, [7, 7, 7]), sitk.sitkUInt8)  # body by threshold, ~10 mm margin
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    run = ctmrfusion(
        "register",
        "--ct",
        sample.ct,
        "--mr",
        sample.mr,
        "--ct-mask",
        tmp_path / "mask.nrrd",
        "--transform",
        tmp_path / "t.tfm",
        "--report",
        tmp_path / "r.json",
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    assert _tre_of(tmp_path / "t.tfm", sample) <= 3.0
    empty = tmp_path / "empty.nrrd"
    sitk.WriteImage(sitk.Image(ct.GetSize(), sitk.sitkUInt8), str(empty))
    refused = ctmrfusion(
        "register",
        "--ct",
        sample.ct,
        "--mr",
        sample.mr,
        "--ct-mask",
        empty,
        "--transform",
        tmp_path / "t2.tfm",
        "--quiet",
    )
    assert refused.returncode == 2 and "CT mask is empty" in refused.stderr


def _strict_json(path):
    """The file as strict JSON: NaN and Infinity (which Python's json writes by default) are refused."""

    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.slow
def test_an_mr_of_noise_warns_once_and_strict_exits_3_with_the_outputs_written(tmp_path, sample):
    """A registration that cannot be trusted says so: one ``ctmrfusion: warning:`` line, the report's confidence
    is low with its reasons, and ``--strict`` exits 3 (the outputs are still written); a good one says nothing."""
    mr = sitk.ReadImage(str(sample.mr))
    noise = sitk.GetImageFromArray(np.random.default_rng(5).uniform(0, 800, sitk.GetArrayViewFromImage(mr).shape))
    noise.CopyInformation(mr)
    noise_path = tmp_path / "noise.nrrd"
    sitk.WriteImage(sitk.Cast(noise, sitk.sitkFloat32), str(noise_path))
    outputs = {"--transform": tmp_path / "t.h5", "--report": tmp_path / "r.json"}
    arguments = ["register", "--ct", sample.ct, "--mr", noise_path, "--preset", "fast", "--quiet"]
    for flag, path in outputs.items():
        arguments += [flag, path]

    strict = ctmrfusion(*arguments, "--strict")
    assert strict.returncode == 3, strict.stderr
    warnings = [line for line in strict.stderr.splitlines() if line.startswith("ctmrfusion: warning:")]
    assert len(warnings) == 1 and "low confidence" in warnings[0] and "normalised MI" in warnings[0]
    assert "Traceback" not in strict.stderr
    report = _strict_json(outputs["--report"])
    assert report["confidence"]["level"] == "low" and report["confidence"]["reasons"]
    assert outputs["--transform"].is_file()

    lenient = ctmrfusion(*arguments)
    assert lenient.returncode == 0 and lenient.stderr.count("ctmrfusion: warning:") == 1


@pytest.mark.slow
def test_a_good_registration_reports_high_confidence_in_strict_json(registered):
    run, out = registered
    assert "ctmrfusion: warning:" not in run.stderr
    report = _strict_json(out["report"])
    assert report["confidence"]["level"] == "high" and report["confidence"]["reasons"] == []
    assert {"normalized_mi", "ct_in_mr", "mr_in_ct", "alternative_gap"} <= set(report["confidence"])


def test_threads_sets_the_registrations_threads_and_a_bad_count_is_refused(tmp_path, sample):
    """``--threads 1`` (a batch case's or a busy machine's budget): the report says 1 ITK thread and the result is as
    good (landmark TRE within the 2.5 mm bar); ``--threads 0`` is bad input, refused before anything is written."""
    run = ctmrfusion(
        "register", "--ct", sample.ct, "--mr", sample.mr, "--threads", "1",
        "--transform", tmp_path / "t.tfm", "--report", tmp_path / "r.json", "--quiet",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert _strict_json(tmp_path / "r.json")["itk_threads"] == 1
    assert _tre_of(tmp_path / "t.tfm", sample) <= 2.5
    refused = ctmrfusion(
        "register", "--ct", sample.ct, "--mr", sample.mr, "--threads", "0", "--transform", tmp_path / "t0.tfm"
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == ["ctmrfusion: error: --threads must be from 1 to 1024, got 0."]
    assert not (tmp_path / "t0.tfm").exists()
