"""The clinical round trip through a real PACS: Orthanc with its DICOMweb plugin, started by the test.

The CT and MR series are stored on the server (STOW-RS); ``register`` and ``batch`` read them by series URL and
store the Spatial Registration and the MR on the CT back; the test queries the server for what it now holds
(QIDO-RS), retrieves it (WADO-RS) and checks it as the folder outputs are checked.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicomweb_client.api import DICOMwebClient

from CTMRFusionLib.io.landmark_files import read_landmarks
from support.commands import ctmrfusion
from support.dicom_checks import MR_IMAGE, SPATIAL_REGISTRATION, by_sop_class, dciodvfy_errors
from support.orthanc import orthanc_server

SERIES_UID, MODALITY = "0020000E", "00080060"


@pytest.fixture(scope="module")
def pacs(tmp_path_factory, dicom_pair):
    """Orthanc holding the CT and the MR series; (DICOMweb base URL, client, CT URL, MR URL)."""
    folder, ct, mr = dicom_pair
    with orthanc_server(tmp_path_factory.mktemp("orthanc")) as base:
        client = DICOMwebClient(url=base)
        for role in ("ct", "mr"):
            client.store_instances([pydicom.dcmread(path) for path in sorted((folder / role).iterdir())])
        urls = {
            role: f"{base}/studies/{uids['study']}/series/{uids['series']}" for role, uids in (("ct", ct), ("mr", mr))
        }
        yield base, client, urls["ct"], urls["mr"]


def _series_in(client, study_uid) -> dict[str, str]:
    """Series UID → modality of every series the server holds in ``study_uid``."""
    return {s[SERIES_UID]["Value"][0]: s[MODALITY]["Value"][0] for s in client.search_for_series(study_uid)}


def _retrieve(client, study_uid, series_uid, folder):
    folder.mkdir(parents=True)
    for index, dataset in enumerate(client.retrieve_series(study_uid, series_uid)):
        dataset.save_as(folder / f"{index:05d}.dcm", enforce_file_format=True)
    return folder


def _mr_to_ct(reg, mr_frame) -> np.ndarray:
    item = next(i for i in reg.RegistrationSequence if i.FrameOfReferenceUID == mr_frame)
    values = item.MatrixRegistrationSequence[0].MatrixSequence[0].FrameOfReferenceTransformationMatrix
    return np.reshape(np.array(values, dtype=float), (4, 4))


def test_register_reads_both_series_from_the_pacs_and_stores_its_outputs_back(tmp_path, pacs, dicom_pair, sample):
    base, client, ct_url, mr_url = pacs
    _, ct, mr = dicom_pair
    before = _series_in(client, ct["study"])
    run = ctmrfusion(
        "register", "--ct", ct_url, "--mr", mr_url, "--stow", base,
        "--transform", tmp_path / "mr_to_ct.h5", "--report", tmp_path / "report.json",
        "--ct-landmarks", sample.ct_landmarks, "--mr-landmarks", sample.mr_landmarks, "--quiet",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["dicom"]["stored"]["instances"] == 1 + report["dicom"]["mr_on_ct"]["images"]

    after = _series_in(client, ct["study"])
    new = {uid: modality for uid, modality in after.items() if uid not in before}
    assert sorted(new.values()) == ["MR", "REG"], after
    assert _series_in(client, mr["study"]) == {mr["series"]: "MR"}, "the MR's own study gained nothing"
    for uid in new:
        _retrieve(client, ct["study"], uid, tmp_path / "back" / uid)
    found = by_sop_class(tmp_path / "back")
    ((reg_path, reg),) = found[SPATIAL_REGISTRATION]
    assert not dciodvfy_errors(reg_path)

    # The registration as stored: the inverse of the .h5, and the same landmark error through it.
    transform = sitk.ReadTransform(str(tmp_path / "mr_to_ct.h5"))
    matrix = _mr_to_ct(reg, mr["frame"])
    ct_points, mr_points = read_landmarks(sample.ct_landmarks), read_landmarks(sample.mr_landmarks)
    for point in ct_points.points_lps:
        np.testing.assert_allclose(
            matrix[:3, :3] @ transform.TransformPoint(tuple(point)) + matrix[:3, 3], point, atol=1e-4
        )
    mr_by_label = dict(zip(mr_points.labels, mr_points.points_lps))
    errors = [
        np.linalg.norm(matrix[:3, :3] @ mr_by_label[label] + matrix[:3, 3] - point)
        for label, point in zip(ct_points.labels, ct_points.points_lps)
    ]
    assert np.mean(errors) == pytest.approx(report["tre"]["after"]["mean_mm"], abs=1e-3) and np.mean(errors) < 3.0

    # The MR on the CT as stored: SimpleITK reads it with the CT's grid.
    images = found[MR_IMAGE]
    ct_image = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(dicom_pair[0] / "ct")))
    derived = sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(images[0][0].parent)))
    assert derived.GetSize() == ct_image.GetSize() == (ct_image.GetSize()[0], ct_image.GetSize()[1], len(images))
    np.testing.assert_allclose(derived.GetOrigin(), ct_image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(derived.GetDirection(), ct_image.GetDirection(), atol=1e-6)
    assert sitk.GetArrayViewFromImage(derived).max() > 100


def test_a_series_the_pacs_lacks_and_a_pacs_that_is_down_exit_2_with_one_line(tmp_path, pacs, dicom_pair):
    base, _, ct_url, _ = pacs
    missing = f"{base}/studies/{dicom_pair[1]['study']}/series/1.2.3.4.5"
    run = ctmrfusion("register", "--ct", ct_url, "--mr", missing, "--transform", tmp_path / "t.h5")
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "MR " in run.stderr and "HTTP 404" in run.stderr and not (tmp_path / "t.h5").exists()
    down = "http://127.0.0.1:9/dicom-web"  # the discard port: nothing listens
    run = ctmrfusion("register", "--ct", ct_url.replace(base, down), "--mr", missing, "--transform", tmp_path / "t.h5")
    assert run.returncode == 2 and "no DICOMweb server answers" in run.stderr, run.stderr


def test_a_pacs_that_asks_for_a_password_gets_the_urls_one_and_the_report_masks_it(tmp_path, dicom_pair):
    folder, ct, _ = dicom_pair
    with orthanc_server(tmp_path / "orthanc", users={"planner": "s3cret pass"}) as base:
        authorised = base.replace("http://", "http://planner:s3cret%20pass@")
        DICOMwebClient(url=base, session=_basic("planner", "s3cret pass")).store_instances(
            [pydicom.dcmread(path) for path in sorted((folder / "ct").iterdir())]
        )
        series = f"/studies/{ct['study']}/series/{ct['series']}"
        run = ctmrfusion("register", "--ct", base + series, "--mr", folder / "mr", "--transform", tmp_path / "t.h5")
        assert run.returncode == 2 and "HTTP 401" in run.stderr, run.stderr
        run = ctmrfusion("register", "--ct", authorised + series, "--mr", folder / "mr", "--transform",
                         tmp_path / "t.h5", "--report", tmp_path / "r.json", "--quiet")  # fmt: skip
        assert run.returncode == 0, run.stderr
        report = (tmp_path / "r.json").read_text()
        assert "s3cret" not in report and "planner:***@" in report  # the password never reaches the report


def _basic(user, password):
    import requests

    session = requests.Session()
    session.auth = (user, password)
    return session


@pytest.mark.slow
def test_batch_reads_manifest_urls_and_stores_each_case(tmp_path, pacs, dicom_pair):
    base, client, ct_url, mr_url = pacs
    _, ct, _ = dicom_pair
    manifest = tmp_path / "cohort.csv"
    with manifest.open("w", newline="") as stream:
        csv.writer(stream).writerows([["id", "ct", "mr"], ["pacs_case", ct_url, mr_url]])
    before = _series_in(client, ct["study"])
    out = tmp_path / "out"
    run = ctmrfusion(
        "batch", "--manifest", manifest, "--out", out, "--workers", 1, "--stow", base, "--fuse", "max", "--quiet"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    with (out / "summary.csv").open() as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["status"] in ("ok", "review") and row["id"] == "pacs_case"
    report = json.loads((out / "pacs_case" / "report.json").read_text())
    assert report["inputs"]["ct_series_uid"] == ct["series"]
    new = sorted(m for uid, m in _series_in(client, ct["study"]).items() if uid not in before)
    assert new == ["MR", "MR", "REG"], new  # the MR on the CT and the fused series, with the registration
