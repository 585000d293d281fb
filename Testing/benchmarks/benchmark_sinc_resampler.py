"""Benchmark: CTMRFusion's windowed-sinc resampler against SimpleITK's sitkHammingWindowedSinc.

Same inputs, same transform (a 178° flip plus a few degrees, as the real pair needs), float32 output:
prints both wall times, their ratio and the largest difference of values.

* demo: the bundled MR resampled onto the bundled CT grid (3.0 M voxels), both resamplers on all of it.
* full: the full-resolution MRI-DIR MR onto the full-resolution CT grid (107 M voxels; ../shared/data).
  Ours runs on the whole grid (with its peak memory); SimpleITK would need about half an hour, so it runs
  on a 4.2 M-voxel block of the grid and its time is scaled by the voxel count (marked "extrapolated").

Usage (from the repository root):
    PYTHONPATH=Testing python Testing/benchmarks/benchmark_sinc_resampler.py [--markdown FILE]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[2]

from CTMRFusionLib.imaging.sinc_resampler import resample_windowed_sinc
from CTMRFusionLib.io.sample_data import demo_pair
from support.report_table import emit_table

SHARED = ROOT.parent / "shared" / "data" / "mri_dir_porcine"


def transform() -> sitk.Euler3DTransform:
    euler = sitk.Euler3DTransform()
    euler.SetCenter((-13.0, 8.0, -6.0))
    euler.SetRotation(-0.03, np.pi - 0.035, 0.05)
    euler.SetTranslation((16.0, 17.0, -1.5))
    return euler


def timed(function):
    tick = time.perf_counter()
    value = function()
    return value, time.perf_counter() - tick


def compare(moving, reference, itk_reference=None) -> dict:
    """Time both resamplers; SimpleITK on ``itk_reference`` (a block of ``reference``) if given."""
    itk_reference = itk_reference or reference
    ours, ours_seconds = timed(lambda: resample_windowed_sinc(moving, reference, transform(), 0.0, sitk.sitkFloat32))
    theirs, itk_seconds = timed(
        lambda: sitk.Resample(moving, itk_reference, transform(), sitk.sitkHammingWindowedSinc, 0.0, sitk.sitkFloat32)
    )
    ours_block = sitk.Resample(ours, itk_reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0)
    difference = np.abs(sitk.GetArrayViewFromImage(ours_block) - sitk.GetArrayViewFromImage(theirs))
    voxels, itk_voxels = np.prod(reference.GetSize()), np.prod(itk_reference.GetSize())
    itk_full = itk_seconds * voxels / itk_voxels
    return {
        "voxels": int(voxels),
        "ours_s": ours_seconds,
        "itk_s": itk_full,
        "extrapolated": itk_voxels < voxels,
        "ratio": itk_full / ours_seconds,
        "max_diff": float(difference.max()),
        "relative_diff": float(difference.max() / np.abs(sitk.GetArrayViewFromImage(theirs)).max()),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    pair = demo_pair()
    rows = {"demo": compare(sitk.ReadImage(str(pair.mr)), sitk.ReadImage(str(pair.ct)))}
    if (SHARED / "ct.nrrd").exists():
        ct = sitk.ReadImage(str(SHARED / "ct.nrrd"))
        block = sitk.RegionOfInterest(ct, (256, 256, 64), (128, 128, 180))
        rows["full"] = compare(sitk.ReadImage(str(SHARED / "mr_t2.nrrd")), ct, block)
    table = []
    for case, row in rows.items():
        itk = f"{row['itk_s']:.1f}" + (" (extrapolated)" if row["extrapolated"] else "")
        table.append(
            [
                case,
                f"{row['voxels'] / 1e6:.1f} M",
                itk,
                f"{row['ours_s']:.1f}",
                f"{row['ratio']:.1f}×",
                f"{row['max_diff']:.2e} / {row['relative_diff']:.1e}",
                f"{row['peak_mb']:.0f}",
            ]
        )
    emit_table(
        [
            "case",
            "output voxels",
            "SimpleITK sinc (s)",
            "CTMRFusion sinc (s)",
            "speed-up",
            "max difference (abs / relative)",
            "peak memory so far (MB)",
        ],
        table,
        args.markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
