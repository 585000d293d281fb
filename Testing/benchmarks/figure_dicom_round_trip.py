"""The pictures of docs/dicom.md, made by running the round trip they show.

The bundled pair is written as DICOM series (CT feet-first, MR head-first, own studies and frames), stored on a
fresh Orthanc (DICOMweb), registered by ``ctmrfusion register`` reading both by series URL and storing its
outputs back (``--stow``), then:

- ``docs/images/dicom_orthanc_study.png``: Orthanc Explorer's page of the CT's study, as headless Chromium
  renders it: the CT, the Spatial Registration and the MR on the CT, side by side in the study;
- ``docs/images/dicom_mr_on_ct.png``: the MR series retrieved back from the PACS (WADO-RS) blended on the CT
  series (CT purple, MR green), three planes, read with SimpleITK alone.

Usage: ``PYTHONPATH=Testing .venv/bin/python Testing/benchmarks/figure_dicom_round_trip.py`` (needs the
Debian packages orthanc, orthanc-dicomweb and chromium).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pydicom
import requests
import SimpleITK as sitk
from dicomweb_client.api import DICOMwebClient

from CTMRFusionLib.batch.thumbnail import blend_planes, write_thumbnail
from CTMRFusionLib.io.sample_data import demo_pair
from support.dicom_writer import write_series
from support.orthanc import orthanc_server

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"


def _screenshot(url: str, path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is needed for the Orthanc Explorer picture")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                "--hide-scrollbars", "--window-size=900,620", "--virtual-time-budget=8000",
                f"--screenshot={path}", url,
            ],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


def main() -> None:
    sample = demo_pair()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        ct = write_series(sitk.ReadImage(str(sample.ct)), work / "ct", "CT", description="Planning CT",
                          patient_position="FFS")  # fmt: skip
        mr = write_series(sitk.ReadImage(str(sample.mr)), work / "mr", "MR", description="T2 TSE",
                          patient_position="HFS")  # fmt: skip
        with orthanc_server(work / "orthanc") as base:
            client = DICOMwebClient(url=base)
            for role in ("ct", "mr"):
                client.store_instances([pydicom.dcmread(p) for p in sorted((work / role).iterdir())])
            urls = [f"{base}/studies/{uids['study']}/series/{uids['series']}" for uids in (ct, mr)]
            command = [sys.executable, "-m", "CTMRFusionLib.cli", "register", "--ct", urls[0], "--mr", urls[1]]
            command += ["--stow", base, "--transform", str(work / "mr_to_ct.h5"), "--quiet"]
            subprocess.run(command, check=True)
            derived = next(
                s["0020000E"]["Value"][0]
                for s in client.search_for_series(ct["study"])
                if s["00080060"]["Value"][0] == "MR"
            )
            back = work / "back"
            back.mkdir()
            for index, dataset in enumerate(client.retrieve_series(ct["study"], derived)):
                dataset.save_as(back / f"{index:05d}.dcm", enforce_file_format=True)
            root = base.removesuffix("/dicom-web")
            study = requests.post(f"{root}/tools/lookup", data=ct["study"], timeout=10).json()[0]["ID"]
            _screenshot(f"{root}/app/explorer.html#study?uuid={study}", IMAGES / "dicom_orthanc_study.png")
        read = sitk.ImageSeriesReader()
        ct_image = sitk.ReadImage(read.GetGDCMSeriesFileNames(str(work / "ct")))
        mr_on_ct = sitk.ReadImage(read.GetGDCMSeriesFileNames(str(back)))
        write_thumbnail(blend_planes(ct_image, mr_on_ct), IMAGES / "dicom_mr_on_ct.png")
    print(f"wrote {IMAGES / 'dicom_orthanc_study.png'} and {IMAGES / 'dicom_mr_on_ct.png'}")


if __name__ == "__main__":
    main()
