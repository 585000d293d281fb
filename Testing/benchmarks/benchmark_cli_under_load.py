"""Issue 35: the command line's wall time as users meet it, quiet and with one core busy, beside the peers.

Every figure is a user's: a fresh ``ctmrfusion`` process from ``.venv/bin/ctmrfusion`` (start-up and imports
included), timed from the outside. "Busy" means another process spins on one core for the whole measurement
(``python -c "while True: pass"``, started and stopped by this script), as Slicer's application and views, or a
colleague's job, take a core from the worker. Both states are measured in the same run, alternating, so that they
share the machine's condition.

- **Fusion** on a 256×256×200 volume (issue 35's size): the MRI-DIR phantom's CT (../shared/data) resampled on a
  256×256×200 grid over its field of view, and its MR put on that grid by the landmarks' reference rigid fit: the
  U-Net (``--method unet``, CPU) against the GFF rule, the fastest classic rule of comparable quality.
- **Registration** on three Harvard atlas stacks (1 × 1 × 5 mm, ``support.atlas_stacks``): ``ctmrfusion register``
  (default preset) against elastix's default rigid registration call (itk-elastix, in its own process: the call
  alone, as the issue's bar names it, and the process's whole wall time with its imports).

Usage (from the repository root, peers in .venv-benchmark): ``make benchmark`` runs the others; this one:
    PYTHONPATH=Testing .venv-benchmark/bin/python Testing/benchmarks/benchmark_cli_under_load.py \
        [--repeats 3] [--markdown docs/results/cli_under_load.md]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
CLI = ROOT / ".venv" / "bin" / "ctmrfusion"
FUSION_SIZE = (256, 256, 200)

ELASTIX_CHILD = """
import sys, time
started = time.perf_counter()
import itk
fixed = itk.imread(sys.argv[1], itk.F)
moving = itk.imread(sys.argv[2], itk.F)
parameters = itk.ParameterObject.New()
parameters.AddParameterMap(parameters.GetDefaultParameterMap("rigid"))
call = time.perf_counter()
itk.elastix_registration_method(fixed, moving, parameter_object=parameters, log_to_console=False)
print(time.perf_counter() - call)
"""


@contextlib.contextmanager
def busy_core(busy: bool):
    """One core kept busy by another process while the block runs (nothing when ``busy`` is False)."""
    if not busy:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # the spinner is on its core before the timed command starts
        yield
    finally:
        spinner.kill()
        spinner.wait()


def wall_seconds(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed: {run.stderr[-500:]}")
    return seconds, run.stdout


def fusion_pair(folder: Path) -> tuple[Path, Path]:
    """The 256×256×200 CT and registered MR (see the module docstring), written as NRRD in ``folder``."""
    ct = sitk.ReadImage(str(SHARED / "mri_dir_porcine" / "ct.nrrd"))
    mr = sitk.ReadImage(str(SHARED / "mri_dir_porcine" / "mr_t2.nrrd"))
    fit = sitk.ReadTransform(str(SHARED / "mri_dir_porcine" / "landmarks" / "reference_rigid_fit_ct_to_mr.tfm"))
    extent = [n * s for n, s in zip(ct.GetSize(), ct.GetSpacing())]
    grid = sitk.Image(FUSION_SIZE, sitk.sitkInt16)
    grid.SetSpacing([e / n for e, n in zip(extent, FUSION_SIZE)])
    grid.SetOrigin(ct.GetOrigin())
    grid.SetDirection(ct.GetDirection())
    ct_on_grid = sitk.Resample(ct, grid, sitk.Transform(), sitk.sitkLinear, -1024.0, sitk.sitkInt16)
    mr_on_grid = sitk.Resample(mr, grid, fit, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    paths = folder / "ct_256.nrrd", folder / "mr_256.nrrd"
    sitk.WriteImage(ct_on_grid, str(paths[0]))
    sitk.WriteImage(mr_on_grid, str(paths[1]))
    return paths


def registration_stacks(folder: Path, count: int = 3) -> dict[str, tuple[Path, Path]]:
    from support.atlas_stacks import atlas_stacks

    stacks = {}
    for name, (ct, mr) in list(atlas_stacks(SHARED / "harvard_ctmri").items())[:count]:
        paths = folder / f"{name}_ct.nrrd", folder / f"{name}_mr.nrrd"
        sitk.WriteImage(ct, str(paths[0]))
        sitk.WriteImage(mr, str(paths[1]))
        stacks[name] = paths
    return stacks


def measure(repeats: int, work: Path) -> list[dict]:
    ct, mr = fusion_pair(work)
    stacks = registration_stacks(work)
    jobs = {}
    for method in ("unet", "gff"):
        command = [str(CLI), "fuse", "--ct", str(ct), "--mr", str(mr), "--method", method, "--device", "cpu"]
        jobs[("fusion 256×256×200", f"fuse {method}")] = (command + ["--quiet", "--output"], ".nrrd")
    for name, (stack_ct, stack_mr) in stacks.items():
        command = [str(CLI), "register", "--ct", str(stack_ct), "--mr", str(stack_mr), "--quiet", "--transform"]
        jobs[(f"stack {name}", "register")] = (command, ".h5")
        jobs[(f"stack {name}", "elastix")] = ([sys.executable, "-c", ELASTIX_CHILD, str(stack_ct), str(stack_mr)], None)
    samples: dict[tuple, list] = {}
    for repeat in range(repeats):
        for busy in (False, True):  # alternating: both states see the same machine
            for (case, tool), (command, suffix) in jobs.items():
                output = [str(work / f"out_{repeat}_{busy}_{len(samples)}{suffix}")] if suffix else []
                with busy_core(busy):
                    seconds, stdout = wall_seconds(command + output)
                call = float(stdout.strip().splitlines()[-1]) if tool == "elastix" else None
                samples.setdefault((case, tool, busy), []).append((seconds, call))
                print(f"{case:22s} {tool:10s} {'busy' if busy else 'quiet':5s} {seconds:6.2f} s", flush=True)
    rows = []
    for (case, tool, busy), values in samples.items():
        walls = [w for w, _ in values]
        calls = [c for _, c in values if c is not None]
        rows.append(
            {
                "case": case,
                "tool": tool,
                "state": "one core busy" if busy else "quiet",
                "wall_median_s": statistics.median(walls),
                "wall_range_s": [min(walls), max(walls)],
                "call_median_s": statistics.median(calls) if calls else None,
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    by = {(r["case"], r["tool"], r["state"]): r for r in rows}
    lines = [
        "| case | state | CTMRFusion CLI wall (s) | peer (s) | ratio |",
        "|---|---|---|---|---|",
    ]
    for state in ("quiet", "one core busy"):
        unet, gff = by[("fusion 256×256×200", "fuse unet", state)], by[("fusion 256×256×200", "fuse gff", state)]
        ratio = unet["wall_median_s"] / gff["wall_median_s"]
        lines.append(
            f"| fusion 256×256×200, U-Net vs GFF (CLI both) | {state} | {_cell(unet)} | {_cell(gff)} | {ratio:.2f} |"
        )
    for state in ("quiet", "one core busy"):
        for case in sorted({r["case"] for r in rows if r["case"].startswith("stack")}):
            ours, elastix = by[(case, "register", state)], by[(case, "elastix", state)]
            ratio = ours["wall_median_s"] / elastix["call_median_s"]
            peer = f"{elastix['call_median_s']:.2f} (call); {elastix['wall_median_s']:.2f} (its process)"
            lines.append(f"| {case}, register vs elastix | {state} | {_cell(ours)} | {peer} | {ratio:.2f} |")
    return "\n".join(lines) + "\n"


def _cell(row: dict) -> str:
    low, high = row["wall_range_s"]
    return f"{row['wall_median_s']:.2f} ({low:.2f}–{high:.2f})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="write the table (and the raw rows as JSON beside it)")
    args = parser.parse_args(argv)
    if not CLI.is_file():
        raise SystemExit(f"{CLI} not found: run `make demo` first")
    with tempfile.TemporaryDirectory() as work:
        rows = measure(args.repeats, Path(work))
    text = table(rows)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
        args.markdown.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
