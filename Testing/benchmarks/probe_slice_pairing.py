"""Probe: which CT slice does each Harvard stack's MR slice belong with, by the data alone (issue 16)?

The stack benchmark takes the identity as every stack's truth: the atlas pairs its CT and MR slice by slice.
On stack 37 both elastix and CTMRFusion end 3–4 mm from it along the 5 mm slices, with better MI there than
at the truth. To tell the registration from the data, this prints, for each stack, MI, NGF and the
correlation ratio of the MR shifted by −2 to +2 whole slices (``support.slice_pairing``: no interpolation
blur, which would favour any shift between slices) and the shift each measure prefers. A stack whose three
measures all prefer a whole-slice shift to the identity has MR slices that the data pairs with other CT
slices than the atlas does.

Usage (from the repository root):
    PYTHONPATH=Testing .venv-benchmark/bin/python Testing/benchmarks/probe_slice_pairing.py [--cases 37 2]
        [--markdown FILE]
"""

from __future__ import annotations

import argparse

from benchmark_registration import SHARED_DATA
from support.atlas_stacks import atlas_stacks
from support.report_table import emit_table
from support.slice_pairing import SHIFTS_SLICES, best_shift, probe


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", help="case numbers (default: all)")
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    args = parser.parse_args(argv)
    stacks = atlas_stacks(SHARED_DATA / "harvard_ctmri")
    header = ["stack", "measure", *[f"{s:+d} slices" for s in SHIFTS_SLICES], "best"]
    rows = []
    for name in args.cases or stacks:
        for measure, values in probe(*stacks[name]).items():
            rows.append([name, measure, *[f"{values[s]:.4f}" for s in SHIFTS_SLICES], f"{best_shift(values):+d}"])
    emit_table(header, rows, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
