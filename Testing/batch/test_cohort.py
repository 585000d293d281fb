"""``ctmrfusion batch`` on a real LocalCluster (2 worker processes) with a 4-case real cohort (fast preset).

Three shared Harvard stacks (one under a known rigid move, with landmark files from that move), one corrupt
file, and a stack's CT with an MR of noise. Checked: the corrupt case fails alone, the noise case is registered
but marked ``review`` (its confidence verdict is low), each transform is bit-identical to a direct
``ctmrfusion register`` with the same thread count, the moved case's TRE against the known move, that a rerun
computes nothing, and the cohort page as headless Chromium renders it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from support.browser import chromium_dom, chromium_screenshot
from support.cohort import CORRUPT_CASE, LANDMARK_CASE, NOISE_CASE, add_noise_case, assert_same_result, write_cohort

pytestmark = [pytest.mark.slow, pytest.mark.real_data]

OK_CASES = ("h2", "h20", "h28m")
REVIEW_CASE = NOISE_CASE


def _batch(*arguments, env=None):
    command = [sys.executable, "-m", "CTMRFusionLib.cli", "batch", *map(str, arguments)]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)


def _rows(out):
    with (out / "summary.csv").open() as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    manifest = write_cohort(folder)
    add_noise_case(manifest)
    out = folder / "out"
    run = _batch("--manifest", manifest, "--out", out, "--preset", "fast", "--workers", 2, "--threads-per-worker", 1)
    return manifest, out, run


def test_a_corrupt_case_fails_alone_and_the_exit_code_says_so(cohort):
    _, out, run = cohort
    assert run.returncode == 1, run.stderr
    rows = _rows(out)
    assert list(rows) == [*OK_CASES, CORRUPT_CASE, REVIEW_CASE]
    assert rows[CORRUPT_CASE]["status"] == "failed"
    assert rows[REVIEW_CASE]["status"] == "review" and rows[REVIEW_CASE]["confidence"] == "low"
    assert "normalised MI" in rows[REVIEW_CASE]["review_reasons"]
    assert "corrupt_ct.nrrd" in rows[CORRUPT_CASE]["error"]
    for case in OK_CASES:
        row = rows[case]
        assert row["status"] == "ok" and row["confidence"] == "high", row
        assert -2.0 < float(row["metric"]) < -0.3  # Mattes MI of an aligned head pair
        assert 30 < float(row["peak_memory_mb"]) < 4000
        assert row["worker"].startswith("tcp://")
        for name in ("mr_to_ct.h5", "mr_on_ct.nrrd", "report.json", "blend.png", "case.json"):
            assert (out / case / name).is_file(), name
        report = json.loads((out / case / "report.json").read_text())
        assert report["metric"] == pytest.approx(float(row["metric"]), abs=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"ok": 3, "review": 1, "skipped": 0, "failed": 1}
    assert "dashboard http" in run.stderr


def test_the_moved_case_reports_its_absolute_landmark_error(cohort):
    """Landmarks are CT body points and where the known move sends them, so TRE after is the absolute error."""
    _, out, _ = cohort
    row = _rows(out)[LANDMARK_CASE]
    assert float(row["tre_before_mm"]) > 15.0  # the move is large
    assert float(row["tre_after_mm"]) < 5.0


def test_each_transform_equals_a_direct_register_of_the_same_pair(cohort, tmp_path):
    manifest, out, _ = cohort
    with manifest.open() as handle:
        cases = {row["id"]: row for row in csv.DictReader(handle)}
    for case in OK_CASES:
        report = json.loads((out / case / "report.json").read_text())
        env = {**os.environ, "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": str(report["itk_threads"])}
        direct = tmp_path / f"{case}.h5"
        command = [sys.executable, "-m", "CTMRFusionLib.cli", "register", "--quiet", "--preset", "fast"]
        command += ["--ct", manifest.parent / cases[case]["ct"], "--mr", manifest.parent / cases[case]["mr"]]
        subprocess.run([*map(str, command), "--transform", str(direct)], check=True, env=env, capture_output=True)
        actual, expected = sitk.ReadTransform(str(out / case / "mr_to_ct.h5")), sitk.ReadTransform(str(direct))
        ct = sitk.ReadImage(str(manifest.parent / cases[case]["ct"]))
        assert_same_result(actual, expected, report, ct)


def test_a_second_run_recomputes_nothing(cohort):
    """Rewriting an input with the same bytes (a new modification time) still skips: inputs are hashed by
    content. No registration runs: no output or log file of a finished case is touched."""
    manifest, out, _ = cohort
    mr = manifest.parent / "data" / "h2_mr.nrrd"
    mr.write_bytes(mr.read_bytes())
    watched = [out / case / name for case in OK_CASES for name in ("mr_to_ct.h5", "report.json", "log.txt")]
    before = {path: path.stat().st_mtime_ns for path in watched}
    run = _batch("--manifest", manifest, "--out", out, "--preset", "fast", "--workers", 2)
    assert run.returncode == 1, run.stderr  # the corrupt case still fails
    rows = _rows(out)
    assert [rows[case]["status"] for case in OK_CASES] == ["skipped"] * 3
    assert rows[REVIEW_CASE]["status"] == "review"  # not recomputed, and still to be reviewed
    assert {path: path.stat().st_mtime_ns for path in watched} == before


def test_changed_options_recompute(cohort, tmp_path):
    """The fingerprint covers the options: the same cohort with another interpolator is computed again."""
    manifest, out, _ = cohort
    copy = tmp_path / "out"
    shutil.copytree(out / "h2", copy / "h2")
    one_case = tmp_path / "one.csv"
    lines = manifest.read_text().splitlines()
    one_case.write_text("\n".join([lines[0], lines[1]]).replace("data/", f"{manifest.parent}/data/") + "\n")
    run = _batch("--manifest", one_case, "--out", copy, "--preset", "fast", "--workers", 1, "--interpolator", "linear")
    assert run.returncode == 0, run.stderr
    assert _rows(copy)["h2"]["status"] == "ok"


def test_a_case_is_done_only_while_its_outputs_are_what_its_run_recorded(cohort, tmp_path):
    """The completion record names the run that wrote it and the SHA-256 of each output. An output rewritten
    after that (as a process of a killed run would) makes the case unfinished: the rerun computes it again, and
    its record names the new run."""
    manifest, out, _ = cohort
    record = json.loads((out / "h2" / "case.json").read_text())
    first_run = record["run"]
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", first_run) and _rows(out)["h2"]["run"] == first_run
    assert set(record["outputs"]) == {"mr_to_ct.h5", "mr_on_ct.nrrd", "report.json", "blend.png"}
    copy = tmp_path / "out"
    shutil.copytree(out / "h2", copy / "h2")
    shutil.copytree(out / "h20", copy / "h20")
    report = copy / "h2" / "report.json"
    report.write_text(report.read_text().replace('"metric"', '"metric" ', 1))  # same JSON, other bytes
    one_case = tmp_path / "two.csv"
    lines = manifest.read_text().splitlines()
    one_case.write_text("\n".join(lines[:3]).replace("data/", f"{manifest.parent}/data/") + "\n")
    run = _batch("--manifest", one_case, "--out", copy, "--preset", "fast", "--workers", 1)
    assert run.returncode == 0, run.stderr
    rows = _rows(copy)
    assert [rows["h2"]["status"], rows["h20"]["status"]] == ["ok", "skipped"]
    second_run = json.loads((copy / "summary.json").read_text())["settings"]["run"]
    assert second_run != first_run
    assert [rows["h2"]["run"], rows["h20"]["run"]] == [second_run, first_run]
    assert json.loads((copy / "h2" / "case.json").read_text())["run"] == second_run


def _colour_pixels(page) -> tuple[int, int]:
    """Pixels of the screenshot that are clearly green (the MR in the blends) and clearly purple (the CT)."""
    pixels = chromium_screenshot(page).astype(int)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    green_pixels = np.count_nonzero((green > red + 40) & (green > blue + 40))
    purple_pixels = np.count_nonzero((red > green + 40) & (blue > green + 40))
    return green_pixels, purple_pixels


def test_cohort_page_renders_in_chromium_failures_first_with_thumbnails(cohort, tmp_path):
    _, out, _ = cohort
    page = out / "index.html"
    dom = chromium_dom(page)
    ids = [row.get("data-id") for row in dom.find_all("tr") if row.get("data-id")]
    assert ids[:2] == [CORRUPT_CASE, REVIEW_CASE] and sorted(ids[2:]) == sorted(OK_CASES)
    thumbnails = [img["src"] for img in dom.find_all("img")]
    assert sorted(thumbnails) == sorted(f"{case}/blend.png" for case in (*OK_CASES, REVIEW_CASE))
    by_id = chromium_dom(page, fragment="sort=id")
    assert [row.get("data-id") for row in by_id.find_all("tr") if row.get("data-id")] == sorted(ids)
    green_pixels, purple_pixels = _colour_pixels(page)
    assert green_pixels > 500 and purple_pixels > 500, (green_pixels, purple_pixels)
    # The colour comes from the thumbnails: the same page without its PNG files has none.
    shutil.copy(page, tmp_path / "index.html")
    control_green, control_purple = _colour_pixels(tmp_path / "index.html")
    assert green_pixels > 5 * control_green and purple_pixels > 5 * control_purple, (control_green, control_purple)
