"""The manifest is validated whole before any work: each defect exits 2 with one line naming the row."""

from __future__ import annotations

import pytest

from CTMRFusionLib.batch.manifest import ManifestError, read_manifest
from CTMRFusionLib.cli.main import main


@pytest.fixture
def files(tmp_path):
    """Input files for the manifest's paths (validation checks that they exist; nothing reads them here)."""
    for name in ("a_ct.nrrd", "a_mr.nrrd", "b_ct.nrrd", "b_mr.nrrd", "ct.csv", "mr.csv"):
        (tmp_path / name).write_text("x")
    (tmp_path / "dicom").mkdir()
    return tmp_path


def _manifest(folder, text):
    path = folder / "cohort.csv"
    path.write_text(text)
    return path


def test_a_good_manifest_resolves_paths_against_its_folder(files):
    text = "id,ct,mr,ct_landmarks,mr_landmarks,preset,initializer\n"
    text += "a,a_ct.nrrd,a_mr.nrrd,ct.csv,mr.csv,fast,moments\n"
    text += f"b,{files / 'b_ct.nrrd'},dicom,,,,\n"
    cases = read_manifest(_manifest(files, text))
    assert [case.id for case in cases] == ["a", "b"]
    assert cases[0].ct == str(files / "a_ct.nrrd") and cases[0].mr_landmarks == str(files / "mr.csv")
    assert (cases[0].preset, cases[0].initializer) == ("fast", "moments")
    assert cases[1].mr == str(files / "dicom") and cases[1].preset is None and cases[1].ct_landmarks is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("id,ct,mr\n", "no case"),
        ("id,ct\na,a_ct.nrrd\n", "missing column(s) mr"),
        ("id,ct,mr,weight\na,a_ct.nrrd,a_mr.nrrd,1\n", "unknown column(s) 'weight'"),
        ("id,ct,mr,ct\na,a_ct.nrrd,a_mr.nrrd,b_ct.nrrd\n", "more than once"),
        ("id,ct,mr\na,a_ct.nrrd,a_mr.nrrd\nA,b_ct.nrrd,b_mr.nrrd\n", "row 3: id 'A' repeats row 2"),
        ("id,ct,mr\n../up,a_ct.nrrd,a_mr.nrrd\n", "cannot name a folder"),
        ("id,ct,mr\n.hidden,a_ct.nrrd,a_mr.nrrd\n", "cannot name a folder"),
        ("id,ct,mr\n,a_ct.nrrd,a_mr.nrrd\n", "empty id"),
        ("id,ct,mr\na,a_ct.nrrd,missing.nrrd\n", "row 2: mr 'missing.nrrd' not found"),
        ("id,ct,mr\na,a_ct.nrrd\n", "2 fields where the header has 3"),
        ("id,ct,mr,ct_landmarks,mr_landmarks\na,a_ct.nrrd,a_mr.nrrd,ct.csv,\n", "both ct_landmarks and mr_landmarks"),
        ("id,ct,mr,preset\na,a_ct.nrrd,a_mr.nrrd,turbo\n", "Unknown preset 'turbo'"),
        ("id,ct,mr,initializer\na,a_ct.nrrd,a_mr.nrrd,magic\n", "unknown initializer 'magic'"),
        ("id,ct,mr\na,http://pacs/dicom-web/studies/1.2,a_mr.nrrd\n", "row 2: ct http://pacs/dicom-web/studies/1.2: a"),
        ("id,ct,mr\na,a_ct.nrrd,https://pacs/studies/1.2/series/x.y\n", "DICOMweb input is a series URL"),
    ],
)
def test_each_defect_is_named(files, text, message):
    with pytest.raises(ManifestError, match=None) as error:
        read_manifest(_manifest(files, text))
    assert message in str(error.value)


def test_dicomweb_series_urls_are_kept_as_urls_and_landmarks_stay_files(files):
    url = "https://pacs.example:8443/dicom-web/studies/1.2.840.1/series/1.2.840.1.2"
    cases = read_manifest(_manifest(files, f"id,ct,mr\na,{url},a_mr.nrrd\n"))
    assert cases[0].ct == url and cases[0].mr == str(files / "a_mr.nrrd")
    with pytest.raises(ManifestError, match="ct_landmarks 'http://x/y.csv' not found"):
        read_manifest(
            _manifest(files, "id,ct,mr,ct_landmarks,mr_landmarks\na,a_ct.nrrd,a_mr.nrrd,http://x/y.csv,mr.csv\n")
        )


def test_a_stow_url_that_is_not_a_service_base_exits_2_before_any_work(files, capsys):
    manifest = _manifest(files, "id,ct,mr\na,a_ct.nrrd,a_mr.nrrd\n")
    stow = ["--stow", "http://pacs/dicom-web/studies/1.2"]
    assert main(["batch", "--manifest", str(manifest), "--out", str(files / "o"), *stow]) == 2
    assert "DICOMweb base URL" in capsys.readouterr().err and not (files / "o").exists()


def test_a_bad_manifest_exits_2_before_any_work(files, capsys):
    """No cluster starts and no output folder is created: the one-line reason comes first."""
    out = files / "out"
    manifest = _manifest(files, "id,ct,mr\na,a_ct.nrrd,a_mr.nrrd\nb,b_ct.nrrd,nowhere.nrrd\n")
    assert main(["batch", "--manifest", str(manifest), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ctmrfusion: error:") and "nowhere.nrrd" in error and "\n" not in error
    assert not out.exists()


def test_outputs_that_would_replace_an_input_are_refused(files, capsys):
    """An input inside DIR/<id>/ under an output's name, or the manifest as DIR/summary.csv, exits 2."""
    case_folder = files / "out" / "a"
    case_folder.mkdir(parents=True)
    (case_folder / "report.json").write_text("x")
    manifest = _manifest(files, "id,ct,mr\na,a_ct.nrrd,out/a/report.json\n")
    assert main(["batch", "--manifest", str(manifest), "--out", str(files / "out")]) == 2
    assert "would write into its mr" in capsys.readouterr().err
    summary = files / "summary.csv"
    summary.write_text("id,ct,mr\na,a_ct.nrrd,a_mr.nrrd\n")
    assert main(["batch", "--manifest", str(summary), "--out", str(files)]) == 2
    assert "where the batch writes its summary" in capsys.readouterr().err


def test_bad_options_exit_2(files, capsys):
    manifest = _manifest(files, "id,ct,mr\na,a_ct.nrrd,a_mr.nrrd\n")
    (files / "taken").write_text("a file")
    assert main(["batch", "--manifest", str(manifest), "--out", str(files / "taken")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["batch", "--manifest", str(manifest), "--out", str(files / "o"), "--case-timeout", "0"]) == 2
    assert "--case-timeout must be positive" in capsys.readouterr().err
    scheduler = ["--scheduler", "tcp://127.0.0.1:9", "--workers", "2"]
    assert main(["batch", "--manifest", str(manifest), "--out", str(files / "o"), *scheduler]) == 2
    assert "not with --scheduler" in capsys.readouterr().err


def test_a_row_may_name_a_preset_file_which_must_load(files):
    from CTMRFusionLib.registration.options import RegistrationOptions, write_preset_file

    write_preset_file(RegistrationOptions().replace(histogram_bins=48), files / "site.json")
    (files / "broken.json").write_text('{"options": {"histogram_bins": 1}}')
    cases = read_manifest(_manifest(files, "id,ct,mr,preset\na,a_ct.nrrd,a_mr.nrrd,site.json\n"))
    assert cases[0].preset == str((files / "site.json").resolve())
    with pytest.raises(ManifestError, match="row 2: Preset file .*broken.json: .*histogram_bins"):
        read_manifest(_manifest(files, "id,ct,mr,preset\na,a_ct.nrrd,a_mr.nrrd,broken.json\n"))


def test_editing_a_preset_file_changes_the_cases_fingerprint(files):
    from CTMRFusionLib.batch.case_runner import BatchSettings
    from CTMRFusionLib.batch.manifest import CaseSpec

    preset = files / "site.json"
    preset.write_text('{"options": {"histogram_bins": 48}}')
    case = CaseSpec("a", str(files / "a_ct.nrrd"), str(files / "a_mr.nrrd"), preset=str(preset))
    before = BatchSettings().for_case(case)
    preset.write_text('{"options": {"histogram_bins": 32}}')
    assert BatchSettings().for_case(case) != before


@pytest.mark.parametrize("reserved", ["summary.csv", "Summary.JSON", "index.html"])
def test_an_id_naming_a_file_the_batch_writes_is_refused_before_any_work(files, reserved):
    with pytest.raises(ManifestError, match=r"row 2: id .* file the batch writes"):
        read_manifest(_manifest(files, f"id,ct,mr\n{reserved},a_ct.nrrd,a_mr.nrrd\n"))


def test_rows_are_csv_records_with_the_lines_they_start_on(files):
    """A quoted newline stays in its field (the path then does not exist: nothing else is used), and rows after
    blank lines are named by their real line."""
    quoted = 'id,ct,mr\na,"a_ct.nrrd\nb_ct.nrrd",a_mr.nrrd\n'
    with pytest.raises(ManifestError, match=r"row 2: ct 'a_ct\.nrrd\\nb_ct\.nrrd' not found"):
        read_manifest(_manifest(files, quoted))
    with pytest.raises(ManifestError, match=r"row 5: ct 'missing.nrrd' not found"):
        read_manifest(_manifest(files, "id,ct,mr\na,a_ct.nrrd,a_mr.nrrd\n\n\nb,missing.nrrd,b_mr.nrrd\n"))


@pytest.mark.parametrize("count", ["0", "-1", "100000", "two"])
def test_worker_counts_outside_1_to_256_exit_2(files, capsys, count):
    manifest = _manifest(files, "id,ct,mr\na,a_ct.nrrd,a_mr.nrrd\n")
    with pytest.raises(SystemExit) as stopped:
        main(["batch", "--manifest", str(manifest), "--out", str(files / "out"), "--workers", count])
    assert stopped.value.code == 2
    assert "--workers must be" in capsys.readouterr().err
    assert not (files / "out").exists()


def test_a_device_or_a_fifo_as_an_input_is_refused_before_any_work(files):
    import os

    os.mkfifo(files / "pipe.nrrd")
    for name in ("/dev/zero", str(files / "pipe.nrrd")):
        with pytest.raises(ManifestError, match="not a regular file or a folder"):
            read_manifest(_manifest(files, f"id,ct,mr\na,{name},a_mr.nrrd\n"))


def test_hashing_the_inputs_counts_against_the_case_limit(files):
    import time

    from CTMRFusionLib.batch.fingerprint import hash_input

    with pytest.raises(TimeoutError, match="case limit"):
        hash_input(files / "dicom", deadline=time.monotonic() - 1)
    assert len(hash_input(files / "a_ct.nrrd", deadline=time.monotonic() + 60)) == 64


def test_a_second_batch_on_the_same_out_folder_is_refused(files, capsys):
    from CTMRFusionLib.batch.cohort import hold_output_lock

    out = files / "out"
    out.mkdir()
    held = hold_output_lock(out)  # the first batch
    try:
        manifest = _manifest(files, "id,ct,mr\na,a_ct.nrrd,a_mr.nrrd\n")
        assert main(["batch", "--manifest", str(manifest), "--out", str(out), "--workers", "1"]) == 2
        assert "another batch is writing there" in capsys.readouterr().err
    finally:
        held.close()
    hold_output_lock(out).close()  # free again once the first one ends
