"""Issue 18's contract on the command line, run as a user runs it: inputs and their companion files are never
overwritten, outputs are checked before any work, untrusted files never run code, and every anticipated failure
exits 2 with one line. Small real data: the bundled sample pair, shrunk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import SimpleITK as sitk

from support.data import shared_path


def ctmrfusion(*arguments, timeout=300):
    command = [sys.executable, "-m", "CTMRFusionLib.cli", *map(str, arguments)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def assert_refused(run, *fragments):
    """Exit 2, one line on stderr, no traceback, naming what is wrong."""
    lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith("ctmrfusion: warning")]
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1 and lines[0].startswith("ctmrfusion: error:"), run.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def small(tmp_path_factory, demo_images):
    """The sample pair shrunk (CT 3×, MR 4×) and written as NRRD: registrations of it take a few seconds."""
    folder = tmp_path_factory.mktemp("small")
    ct, mr = demo_images
    sitk.WriteImage(sitk.Shrink(ct, [3, 3, 3]), str(folder / "ct.nrrd"))
    sitk.WriteImage(sitk.Shrink(mr, [4, 4, 2]), str(folder / "mr.nrrd"))
    return folder


def _register(small, *extra):
    return ctmrfusion("register", "--ct", small / "ct.nrrd", "--preset", "fast", "--quiet", *extra)


def _register_with_landmarks(small, tmp_path, ct_landmarks, mr_landmarks):
    landmarks = ["--ct-landmarks", ct_landmarks, "--mr-landmarks", mr_landmarks]
    return _register(small, "--mr", small / "mr.nrrd", "--transform", tmp_path / "t.h5", *landmarks)


def _fingerprint(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize(
    ("mr_name", "volume_name"),
    [("mr.hdr", "mr.img"), ("mr.hdr", "MR.IMG"), ("mr.mhd", "mr.MHD"), ("mr.mhd", "mr.zraw"), ("mr.img", "mr.hdr")],
)
def test_no_output_replaces_an_input_or_its_companion_files(small, tmp_path, mr_name, volume_name):
    image = sitk.ReadImage(str(small / "mr.nrrd"))
    sitk.WriteImage(image, str(tmp_path / mr_name), mr_name.endswith(".mhd"))  # .mhd with its .zraw
    before = _fingerprint(tmp_path)
    run = _register(
        small, "--mr", tmp_path / mr_name, "--transform", tmp_path / "t.h5", "--volume", tmp_path / volume_name
    )
    assert_refused(run, "would overwrite the input file")
    assert _fingerprint(tmp_path) == before


def test_links_to_an_input_are_the_input(small, tmp_path):
    shutil.copy(small / "mr.nrrd", tmp_path / "mr.nrrd")
    os.link(tmp_path / "mr.nrrd", tmp_path / "hard.nrrd")
    os.symlink(tmp_path / "mr.nrrd", tmp_path / "soft.nrrd")
    before = (tmp_path / "mr.nrrd").read_bytes()
    for output in ("hard.nrrd", "soft.nrrd"):
        run = _register(
            small, "--mr", tmp_path / "mr.nrrd", "--transform", tmp_path / "t.h5", "--volume", tmp_path / output
        )
        assert_refused(run, "would overwrite the input file")
    assert (tmp_path / "mr.nrrd").read_bytes() == before


def test_a_device_or_fifo_is_never_replaced_by_an_output(small, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    for target in (tmp_path / "fifo", "/dev/null"):
        run = _register(small, "--mr", small / "mr.nrrd", "--transform", target)
        assert_refused(run, "not a regular file")
    assert (tmp_path / "fifo").is_fifo() and os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_two_outputs_on_one_file_are_refused(small, tmp_path):
    run = _register(small, "--mr", small / "mr.nrrd", "--transform", tmp_path / "t.h5", "--report", tmp_path / "T.H5")
    assert_refused(run, "--report", "--transform")
    assert not list(tmp_path.iterdir())


def test_unwritable_outputs_fail_before_the_work_and_create_no_folder(small, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    started = time.monotonic()
    run = _register(small, "--mr", small / "mr.nrrd", "--transform", tmp_path / "file" / "sub" / "t.h5")
    assert_refused(run, "is not a folder")
    assert time.monotonic() - started < 20  # refused before the registration, not after it
    run = _register(small, "--mr", tmp_path / "missing.nrrd", "--transform", tmp_path / "new" / "t.h5")
    assert_refused(run, "MR not found")
    assert not (tmp_path / "new").exists()
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder is only a test for other users
        (tmp_path / "ro").mkdir(mode=0o500)
        assert_refused(
            _register(small, "--mr", small / "mr.nrrd", "--transform", tmp_path / "ro" / "t.h5"), "permission"
        )


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("list.mrk.json", "[1, 2, 3]", "JSON object"),
        ("null.mrk.json", json.dumps({"markups": [{"controlPoints": None}]}), "controlPoints"),
        ("noposition.mrk.json", json.dumps({"markups": [{"controlPoints": [{"label": "a"}]}]}), "position"),
        ("empty.mrk.json", json.dumps({"markups": [{"controlPoints": []}]}), "no landmark"),
        ("short.csv", "label,x,y,z\na,1,2,3\nb,4,5\n", "row 3 lacks a coordinate"),
        ("broken.mrk.json", "{not json", "unreadable landmark file"),
        ("short.fcsv", "# Markups fiducial file version = 4.11\nid,1,2\n", "id,x,y,z are needed"),
    ],
)
def test_malformed_landmarks_exit_2_naming_the_file_before_registration(small, tmp_path, name, content, fragment):
    (tmp_path / name).write_text(content)
    good = tmp_path / "good.csv"
    good.write_text("label,x,y,z\na,1,2,3\n")
    started = time.monotonic()
    run = _register_with_landmarks(small, tmp_path, good, tmp_path / name)
    assert_refused(run, name, fragment)
    assert time.monotonic() - started < 20 and not (tmp_path / "t.h5").exists()


@pytest.mark.slow
def test_label_pairing_names_the_points_it_leaves_out(small, tmp_path):
    (tmp_path / "ct.csv").write_text("label,x,y,z\na,1,2,3\nb,4,5,6\nonly_ct,7,8,9\n")
    (tmp_path / "mr.csv").write_text("label,x,y,z\na,1,2,3\nb,4,5,6\nonly_mr,0,0,0\n")
    run = _register_with_landmarks(small, tmp_path, tmp_path / "ct.csv", tmp_path / "mr.csv")
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("ctmrfusion: warning:")]
    assert len(warnings) == 1 and "CT only_ct" in warnings[0] and "MR only_mr" in warnings[0]


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda image: image.SetSpacing((1e-6, 1e-6, 1e-6)), "outside 0.001–100 mm"),
        (lambda image: image.SetSpacing((1000.0, 1000.0, 1000.0)), "outside 0.001–100 mm"),
        (lambda image: image.SetDirection((1, 0, 0, 0.5, 1, 0, 0, 0, 1)), "not orthonormal"),
    ],
)
def test_impossible_headers_exit_2(small, tmp_path, edit, fragment):
    image = sitk.ReadImage(str(small / "mr.nrrd"))
    edit(image)
    sitk.WriteImage(image, str(tmp_path / "bad.nrrd"))
    assert_refused(_register(small, "--mr", tmp_path / "bad.nrrd", "--transform", tmp_path / "t.h5"), "MR", fragment)


def test_an_image_too_small_for_the_pyramid_exits_2(small, tmp_path):
    image = sitk.ReadImage(str(small / "mr.nrrd"))
    sitk.WriteImage(image[:3, :40, :40], str(tmp_path / "tiny.nrrd"))
    assert_refused(
        _register(small, "--mr", tmp_path / "tiny.nrrd", "--transform", tmp_path / "t.h5"), "voxels along each axis"
    )


def test_snapshot_refuses_bad_transforms_and_a_file_as_out(small, tmp_path):
    (tmp_path / "garbage.h5").write_text("garbage")
    (tmp_path / "out").write_text("a file")
    base = ["snapshot", "--ct", small / "ct.nrrd", "--mr", small / "mr.nrrd"]
    assert_refused(ctmrfusion(*base, "--transform", tmp_path / "none.h5", "--out", tmp_path / "o"), "none.h5")
    assert_refused(ctmrfusion(*base, "--transform", tmp_path / "garbage.h5", "--out", tmp_path / "o"), "garbage.h5")
    assert_refused(ctmrfusion(*base, "--out", tmp_path / "out"), "is a file")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_sigterm_stops_a_run_cleanly(small, tmp_path):
    """SIGTERM while ITK computes the MI pyramid (the signal is handled inside SimpleITK's iteration command):
    exit 143, the one-line reason and no traceback, no output and no temporary folder left."""
    command = [sys.executable, "-m", "CTMRFusionLib.cli", "register", "--ct", str(small / "ct.nrrd")]
    command += [
        "--mr",
        str(small / "mr.nrrd"),
        "--transform",
        str(tmp_path / "t.h5"),
        "--volume",
        str(tmp_path / "v.nrrd"),
    ]
    child = subprocess.Popen([*command, "--preset", "fine"], stderr=subprocess.PIPE, text=True)
    seen = []
    while not any("Level" in line for line in seen[-1:]):  # the MI pyramid runs: ITK is computing
        seen.append(child.stderr.readline())
        assert seen[-1], "".join(seen)
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 143, stderr
    assert "Traceback" not in stderr and stderr.rstrip().endswith("no partial output left."), stderr
    assert list(tmp_path.iterdir()) == []


class Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.slow
@pytest.mark.real_data
def test_planted_checkpoints_never_run_code(tmp_path):
    torch = pytest.importorskip("torch")
    data = shared_path("harvard_ctmri")
    marker = tmp_path / "PWNED"
    payload = tmp_path / "evil.pt"
    torch.save({"model": Payload(marker)}, payload)
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(payload, out / "checkpoint.pt")
    base = ["train-fusion", "--data", data, "--epochs", 1, "--limit-slices", 4, "--quiet"]
    run = ctmrfusion(*base, "--out", out, "--resume")
    assert_refused(run, "checkpoint.pt", "refused")
    run = ctmrfusion(*base, "--out", tmp_path / "run2", "--init-from", payload)
    assert run.returncode == 2 and "evil.pt" in run.stderr, run.stderr
    import pickle

    plain = tmp_path / "plain.pkl"  # a plain pickle: one error line, no torch warning before it (issue 34)
    plain.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    run = ctmrfusion(*base, "--out", tmp_path / "run3", "--init-from", plain)
    assert_refused(run, "plain.pkl")
    assert "warning" not in run.stderr
    run = ctmrfusion("train-registration", "--data", data, "--out", out, "--resume", "--epochs", 1, "--quiet")
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert not marker.exists()
    # The payload is live: an unsafe load (never done by ctmrfusion) would have run it.
    live = tmp_path / "LIVE"
    torch.save({"model": Payload(live)}, tmp_path / "live.pt")
    torch.load(tmp_path / "live.pt", weights_only=False)
    assert live.exists()


@pytest.mark.slow
@pytest.mark.real_data
def test_a_user_model_with_zeroed_weights_is_refused_and_hashes_are_case_insensitive(tmp_path):
    torch = pytest.importorskip("torch")
    from CTMRFusionLib.ml.torchscript import METADATA_NAME, sha256_of
    from CTMRFusionLib.resources import resource_path

    shipped = resource_path("Models", "fusion_unet.pt")
    extra = {METADATA_NAME: ""}
    model = torch.jit.load(str(shipped), _extra_files=extra)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    zeroed = tmp_path / "zeroed.pt"
    torch.jit.save(model, str(zeroed), _extra_files=extra)
    pair = shared_path("harvard_ctmri")
    ct, mr = sorted((pair / "CT").iterdir())[10], sorted((pair / "MRI").iterdir())[10]
    run = ctmrfusion("fuse", "--ct", ct, "--mr", mr, "--output", tmp_path / "f.png", "--model", zeroed, "--quiet")
    assert_refused(run, "constant image")
    assert not (tmp_path / "f.png").exists()
    digest = sha256_of(shipped).upper()
    run = ctmrfusion(
        "fuse", "--ct", ct, "--mr", mr, "--output", tmp_path / "g.png", "--model", shipped, "--model-sha256", digest
    )
    assert run.returncode == 0, run.stderr
    assert digest.lower() in run.stdout
    fused = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "g.png")))
    assert fused.dtype == np.uint8 and fused.std() > 10


def test_a_header_declaring_more_voxels_than_memory_is_refused_before_reading(small, tmp_path):
    """A hostile or corrupted header (10^15 voxels) is refused from the header alone: no allocation attempt."""
    bomb = tmp_path / "bomb.nrrd"
    bomb.write_bytes(
        b"NRRD0004\ntype: short\ndimension: 3\nsizes: 100000 100000 100000\nendian: little\nencoding: raw\n\n"
    )
    run = _register(small, "--mr", bomb, "--transform", tmp_path / "t.h5")
    assert_refused(run, "bomb.nrrd", "declares 100000 × 100000 × 100000 voxels")


@pytest.mark.slow
def test_a_mirrored_header_is_used_as_given_and_said(small, tmp_path):
    """A left-handed direction (negative determinant) is a valid header (some converters write one): the MR is
    used where it says, and a warning tells the user, since no rigid transform undoes a mirror."""
    image = sitk.ReadImage(str(small / "mr.nrrd"))
    image.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
    sitk.WriteImage(image, str(tmp_path / "mirrored.nrrd"))
    run = _register(small, "--mr", tmp_path / "mirrored.nrrd", "--transform", tmp_path / "t.h5")
    assert run.returncode == 0, run.stderr
    assert "MR (moving image) has a left-handed (mirrored) direction matrix" in run.stderr


def test_an_upper_case_image_extension_is_refused_and_leaves_a_metaimage_input_alone(small, tmp_path):
    """ITK matches writer extensions in lower case only: `--volume b.MHA` beside an input b.mhd + b.zraw would
    have written other files (issue 34). It is refused, naming the lower-case name; nothing is touched."""
    image = sitk.ReadImage(str(small / "mr.nrrd"))
    sitk.WriteImage(image, str(tmp_path / "b.mhd"), True)  # b.mhd with b.zraw
    before = _fingerprint(tmp_path)
    run = _register(small, "--mr", tmp_path / "b.mhd", "--transform", tmp_path / "t.h5", "--volume", tmp_path / "b.MHA")
    assert_refused(run, "--volume", "lower-case extension (b.mha)")
    assert _fingerprint(tmp_path) == before
    run = _register(small, "--mr", small / "mr.nrrd", "--transform", tmp_path / "T.H5")
    assert_refused(run, "--transform", "T.h5")


def test_the_report_never_replaces_the_users_preset(small, tmp_path):
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"options": {"iterations": 50}}))
    before = preset.read_bytes()
    run = _register(small, "--mr", small / "mr.nrrd", "--preset", preset, "--transform", tmp_path / "t.h5",
                    "--report", preset)  # fmt: skip
    assert_refused(run, "--report", "would overwrite the input file")
    assert preset.read_bytes() == before


def test_a_preset_cannot_choose_a_model_to_run(small, tmp_path):
    """A data file never makes `register` load and run TorchScript: the model must be named on the command line."""
    model = tmp_path / "evil.pt"
    model.write_bytes(b"not even a model")
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"options": {"initializer": "deep", "deep_model": str(model)}}))
    run = _register(small, "--mr", small / "mr.nrrd", "--preset", preset, "--transform", tmp_path / "t.h5")
    assert_refused(run, "cannot choose a model", "--deep-model")
    assert not (tmp_path / "t.h5").exists()


@pytest.mark.parametrize("kind", ["fifo", "deep nesting", "too large"])
def test_a_preset_that_is_no_preset_exits_2_without_hanging(small, tmp_path, kind):
    preset = tmp_path / "p.json"
    if kind == "fifo":
        os.mkfifo(preset)  # reading it would block forever
    elif kind == "deep nesting":
        preset.write_text("[" * 100_000 + "]" * 100_000)
    else:
        preset.write_text(json.dumps({"options": {}, "padding": "x" * (2 << 20)}))
    run = _register(small, "--mr", small / "mr.nrrd", "--preset", preset, "--transform", tmp_path / "t.h5")
    assert_refused(run, str(preset))


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"clip_percentiles": [1.0]}, "clip_percentiles"),
        ({"clip_percentiles": []}, "clip_percentiles"),
        ({"iterations": 200.0}, "iterations"),
        ({"iterations": True}, "iterations"),
        ({"random_seed": 1e30}, "random_seed"),
        ({"random_seed": "x"}, "random_seed"),
        ({"level_spacings_mm": [1e-9], "smoothing_sigmas_mm": [0.0]}, "level_spacings_mm"),
        ({"level_spacings_mm": [2.0] * 50, "smoothing_sigmas_mm": [0.0] * 50}, "level_spacings_mm"),
        ({"convergence_window": 0}, "convergence_window"),
        ({"minimum_step_mm": 0}, "minimum_step_mm"),
        ({"minimum_step_mm": -1}, "minimum_step_mm"),
        ({"search_candidates": 2.5}, "search_candidates"),
        ({"deep_polish": "yes"}, "deep_polish"),
    ],
)
def test_every_preset_value_is_checked_against_one_schema_before_any_work(small, tmp_path, options, named):
    """Types, ranges and lengths in one place: each bad value exits 2 with one line naming the key (issue 34)."""
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"options": options}))
    run = _register(small, "--mr", small / "mr.nrrd", "--preset", preset, "--transform", tmp_path / "t.h5")
    assert_refused(run, named)
    assert not (tmp_path / "t.h5").exists()


def test_non_finite_numbers_in_a_preset_are_refused(small, tmp_path):
    preset = tmp_path / "p.json"
    preset.write_text('{"options": {"minimum_step_mm": Infinity, "learning_rate": NaN}}')
    run = _register(small, "--mr", small / "mr.nrrd", "--preset", preset, "--transform", tmp_path / "t.h5")
    assert_refused(run, "must be a finite number")
