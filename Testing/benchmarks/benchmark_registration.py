"""Benchmark: CTMRFusion rigid registration against itk-elastix and ANTsPy on the same real CT/MR inputs.

For the bundled demo pair and the full-resolution MRI-DIR pair (../shared/data, skipped if absent), each
method runs in its own process (wall time and peak resident memory are that process's) on:

* the original pair — landmark TRE (14 verified pairs, mm);
* the MR moved by a known rigid transform (header edited: 25°/20°/15°, 30/35/25 mm) — landmark TRE
  against the landmarks moved the same way: the recovery error.

elastix and ANTs run with their default rigid settings, and again "given the flip": started from the
180°-about-y rotation that the CT/MR patient positions (FFS vs HFS) imply, which CTMRFusion finds itself.
Peers are installed only for this script: ``pip install -r Testing/benchmarks/requirements.txt``.

Usage (from the repository root):
    PYTHONPATH=Testing python Testing/benchmarks/benchmark_registration.py [--cases demo full] [--methods ...]
       [--markdown FILE]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"

from CTMRFusionLib.core.frames import sitk_transform_to_matrix
from CTMRFusionLib.io.landmark_files import LandmarkSet, read_landmarks
from CTMRFusionLib.io.sample_data import demo_pair
from CTMRFusionLib.registration.tre import target_registration_error
from support.ground_truth import move_header, rigid_matrix
from support.report_table import emit_table

MOVE = rigid_matrix((25, 20, 15), (30, -35, 25))
FLIP = np.diag([-1.0, 1.0, -1.0])  # 180 degrees about the A-P (y) axis


def cases() -> dict:
    pair = demo_pair()
    found = {"demo": (pair.ct, pair.mr, pair.ct_landmarks, pair.mr_landmarks)}
    full = SHARED_DATA / "mri_dir_porcine"
    if (full / "ct.nrrd").exists():
        found["full"] = (
            full / "ct.nrrd",
            full / "mr_t2.nrrd",
            full / "landmarks" / "ct_landmarks_lps.csv",
            full / "landmarks" / "mr_landmarks_lps.csv",
        )
    return found


def _flip_start(ct_path: Path) -> np.ndarray:
    """4x4 CT→MR start: the flip about the CT body centroid (what the patient-position headers imply)."""
    from CTMRFusionLib.imaging.body_mask import body_mask, mask_centroid_lps

    center = mask_centroid_lps(body_mask(sitk.ReadImage(str(ct_path))))
    start = np.eye(4)
    start[:3, :3] = FLIP
    start[:3, 3] = center - FLIP @ center
    return start


def run_ctmrfusion(ct_path, mr_path, workdir, preset: str = "default") -> np.ndarray:
    from CTMRFusionLib.registration.options import RegistrationOptions
    from CTMRFusionLib.registration.rigid import register_rigid

    options = RegistrationOptions.from_preset(preset)
    result = register_rigid(sitk.ReadImage(str(ct_path)), sitk.ReadImage(str(mr_path)), options)
    return sitk_transform_to_matrix(result.transform)


def run_elastix(ct_path, mr_path, workdir) -> np.ndarray:
    import itk

    fixed = itk.imread(str(ct_path), itk.F)
    moving = itk.imread(str(mr_path), itk.F)
    parameters = itk.ParameterObject.New()
    parameters.AddParameterMap(parameters.GetDefaultParameterMap("rigid"))
    _, result = itk.elastix_registration_method(
        fixed, moving, parameter_object=parameters, output_directory=str(workdir), log_to_console=False
    )
    values = [float(v) for v in result.GetParameterMap(0)["TransformParameters"]]
    center = [float(v) for v in result.GetParameterMap(0)["CenterOfRotationPoint"]]
    euler = sitk.Euler3DTransform()
    euler.SetCenter(center)
    euler.SetParameters(values)
    return sitk_transform_to_matrix(euler)


def run_ants(ct_path, mr_path, workdir) -> np.ndarray:
    import ants

    registration = ants.registration(
        fixed=ants.image_read(str(ct_path)),
        moving=ants.image_read(str(mr_path)),
        type_of_transform="Rigid",
        outprefix=str(Path(workdir) / "ants_"),
    )
    # The forward transform file resamples the moving image: it maps fixed points to moving points.
    return sitk_transform_to_matrix(sitk.ReadTransform(registration["fwdtransforms"][0]))


METHODS = {
    "ctmrfusion": run_ctmrfusion,
    "fast": functools.partial(run_ctmrfusion, preset="fast"),
    "elastix": run_elastix,
    "ants": run_ants,
}
#: Imported before the clock starts: module loading (seconds for itk's lazy loading) is not registration.
IMPORTS = {
    "ctmrfusion": "CTMRFusionLib.registration.rigid",
    "fast": "CTMRFusionLib.registration.rigid",
    "elastix": "itk",
    "ants": "ants",
}


def _child(method, ct_path, mr_path, start, queue) -> None:
    """Run one registration in this process; report (CT→MR 4x4 matrix, seconds, peak RSS in MB)."""
    import importlib

    module = importlib.import_module(IMPORTS[method])
    if method == "elastix":
        module.ParameterObject.New()  # forces itk's lazy loading of the elastix wrapping
    with tempfile.TemporaryDirectory() as workdir:
        moving_path = mr_path
        if start is not None:  # start the peer from `start`: put the MR where `start` says it is
            moving_path = Path(workdir) / "mr_started.nrrd"
            sitk.WriteImage(move_header(sitk.ReadImage(str(mr_path)), np.linalg.inv(start)), str(moving_path))
        tick = time.perf_counter()
        matrix = METHODS[method](ct_path, moving_path, workdir)
        seconds = time.perf_counter() - tick
        if start is not None:
            matrix = start @ matrix
    queue.put((matrix, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measure(method, ct_path, mr_path, start=None):
    queue = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(target=_child, args=(method, ct_path, mr_path, start, queue))
    process.start()
    outcome = queue.get()
    process.join()
    return outcome


def _tre(matrix, ct_landmarks, mr_landmarks) -> float:
    from CTMRFusionLib.core.frames import matrix_to_sitk_affine

    return target_registration_error(matrix_to_sitk_affine(matrix), ct_landmarks, mr_landmarks).after["mean_mm"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["demo", "full"])
    parser.add_argument("--methods", nargs="+", default=["ctmrfusion", "elastix", "elastix+flip", "ants", "ants+flip"])
    parser.add_argument("--markdown", help="also write the table to this Markdown file")
    args = parser.parse_args(argv)

    rows = []
    for case, (ct_path, mr_path, ct_points, mr_points) in cases().items():
        if case not in args.cases:
            continue
        ct_landmarks, mr_landmarks = read_landmarks(ct_points), read_landmarks(mr_points)
        moved_points = mr_landmarks.points_lps @ MOVE[:3, :3].T + MOVE[:3, 3]
        moved_landmarks = LandmarkSet(mr_landmarks.labels, moved_points)
        with tempfile.TemporaryDirectory() as folder:
            moved_path = Path(folder) / "mr_moved.nrrd"
            sitk.WriteImage(move_header(sitk.ReadImage(str(mr_path)), MOVE), str(moved_path))
            flip = _flip_start(ct_path)
            for label in args.methods:
                method, _, variant = label.partition("+")
                start_original = flip if variant == "flip" else None
                start_moved = MOVE @ flip if variant == "flip" else None
                matrix, seconds, peak_mb = measure(method, ct_path, mr_path, start_original)
                moved_matrix, moved_seconds, moved_peak = measure(method, ct_path, moved_path, start_moved)
                row = {
                    "case": case,
                    "method": label,
                    "tre_mm": _tre(matrix, ct_landmarks, mr_landmarks),
                    "recovery_mm": _tre(moved_matrix, ct_landmarks, moved_landmarks),
                    "seconds": (seconds + moved_seconds) / 2,
                    "peak_mb": max(peak_mb, moved_peak),
                }
                rows.append(row)
                print(
                    f"{case:5s} {label:13s} TRE {row['tre_mm']:7.2f} mm  moved-MR TRE {row['recovery_mm']:7.2f} mm  "
                    f"{row['seconds']:7.1f} s  {row['peak_mb']:7.0f} MB",
                    flush=True,
                )

    table = []
    for row in rows:
        ours = next(r for r in rows if r["case"] == row["case"] and r["method"] == "ctmrfusion")
        peer = next((r for r in rows if r["case"] == row["case"] and r["method"] == "elastix+flip"), None)
        table.append(
            [
                row["case"],
                row["method"],
                f"{row['tre_mm']:.2f}",
                f"{row['recovery_mm']:.2f}",
                f"{row['seconds']:.1f}",
                f"{row['peak_mb']:.0f}",
                f"{row['seconds'] / ours['seconds']:.2f}",
                f"{row['peak_mb'] / ours['peak_mb']:.2f}",
                f"{row['seconds'] / peer['seconds']:.2f}" if peer else "",
            ]
        )
    emit_table(
        [
            "case",
            "method",
            "landmark TRE (mm)",
            "TRE after known move (mm)",
            "wall time (s)",
            "peak memory (MB)",
            "time / CTMRFusion",
            "memory / CTMRFusion",
            "time / elastix+flip",
        ],
        table,
        args.markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
