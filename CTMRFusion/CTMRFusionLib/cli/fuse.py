"""``ctmrfusion fuse``: fuse a registered CT/MR pair (2D slices or 3D volumes) with the U-Net or a classic rule."""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import Future
from contextlib import ExitStack

from CTMRFusionLib.cli.dicom_options import (
    add_dicom_output_arguments,
    check_dicom_destinations,
    print_warnings,
    wants_dicom,
)
from CTMRFusionLib.cli.terminal_progress import add_progress_arguments, progress_for
from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.threads import free_cores, use_threads_for_torch
from CTMRFusionLib.dicom.series_url import local_paths
from CTMRFusionLib.fusion.methods import METHODS
from CTMRFusionLib.io.images import read_image, write_image
from CTMRFusionLib.io.output_paths import check_outputs

FUSE_EPILOG = """\
2D images (PNG, TIFF…) in give an 8-bit image of the same size out, on the same 0-255 scale. 3D volumes
(the MR already registered, e.g. register's --volume output) give a float volume (0-255 fusion scale) in
the CT's geometry: CT HU are windowed to -100…200 HU, the MR's 99.5th body percentile is mapped to 240.
--model loads a TorchScript file you trust (TorchScript runs code); without it the shipped model is used,
after its SHA-256 is verified.
"""


def add_parser(commands) -> None:
    fuse = commands.add_parser(
        "fuse",
        help="fuse a registered CT/MR pair (U-Net or a classic rule)",
        epilog=FUSE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fuse.add_argument("--ct", required=True, help="CT image (2D or 3D), DICOM folder or DICOMweb series URL")
    fuse.add_argument("--mr", required=True, help="MR image registered to the CT (same size for 2D)")
    fuse.add_argument("--output", help="output image (2D: PNG/TIFF 8-bit; 3D: .nrrd, .nii.gz…)")
    add_dicom_output_arguments(fuse, "the fused volume as a derived DICOM series")
    fuse.add_argument("--method", choices=METHODS, default="unet", help="fusion method (default: unet)")
    fuse.add_argument("--model", help="TorchScript fusion model to load instead of the shipped one")
    fuse.add_argument("--model-sha256", help="refuse --model unless its SHA-256 is this")
    fuse.add_argument("--device", default="auto", help="auto (GPU if available), cpu or cuda")
    fuse.add_argument("--batch-size", type=int, help="slices per U-Net call (default: 2 on the CPU, 16 on a GPU)")
    fuse.add_argument(
        "--threads",
        type=int,
        help="CPU threads for the U-Net (default: the cores this process may use that the load leaves free)",
    )
    add_progress_arguments(fuse)


def _model_in_background(args, threads: int, load_model_for) -> Future:
    """The U-Net, loading on a second thread: torch's import (about 1.5 s of the command) and the model file's
    checks run while the images are read and scaled; its errors reach the main thread where it takes the model
    (the images' own errors come first, as before)."""
    future: Future = Future()

    def load() -> None:
        try:
            use_threads_for_torch(threads)  # OMP_NUM_THREADS before torch is imported, then torch's own setting
            future.set_result(load_model_for(args.method, args.model, args.device, args.model_sha256))
        except BaseException as error:  # handed to the main thread
            future.set_exception(error)

    # Not a daemon: an early exit waits for the import instead of killing the thread inside torch's C++ code.
    threading.Thread(target=load, name="ctmrfusion-model", daemon=False).start()
    return future


def run(args) -> None:
    with ExitStack() as stack:
        _fuse(args, stack)


def _fuse(args, stack: ExitStack) -> None:
    # scipy.ndimage (the rules) only when fusing: every command's start-up imports this module (issue 35)
    from CTMRFusionLib.fusion.pipeline import check_fusion_inputs, fuse_images, load_model_for  # noqa: PLC0415

    progress = progress_for(args)
    if not (args.output or args.dicom_out or args.stow):
        raise InvalidInputError("give --output, --dicom-out or --stow: where the fused image goes")
    if args.model and args.method != "unet":
        raise InvalidInputError("--model is only used with --method unet.")
    if args.batch_size is not None and args.batch_size < 1:
        raise InvalidInputError(f"--batch-size must be at least 1, got {args.batch_size}.")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise InvalidInputError(f"--threads must be from 1 to 1024, got {args.threads}.")
    check_outputs({"--output": args.output}, [args.ct, args.mr, args.model])
    dicom_ct = None
    check_dicom_destinations(args, [args.output])
    threads = (args.threads or free_cores()) if args.method == "unet" else None
    model = _model_in_background(args, threads, load_model_for) if args.method == "unet" else None
    ct_path = local_paths(stack, {"CT": args.ct})["CT"]  # a DICOMweb series is retrieved first
    if wants_dicom(args):
        from CTMRFusionLib.dicom.export import read_source  # noqa: PLC0415 — pydicom when DICOM is written

        dicom_ct = read_source(ct_path, "CT")
    ct, mr = read_image(ct_path, "CT"), read_image(args.mr, "MR")
    check_fusion_inputs(ct, mr)  # before the model is loaded
    if dicom_ct is not None and ct.GetDimension() != 3:
        raise InvalidInputError("--dicom-out and --stow write 3D volumes; the CT given is 2D")
    started = time.perf_counter()
    # The U-Net's batches run in as many streams as it has threads, one thread each (fusion/model.py).
    streams = threads or 1
    fused = fuse_images(ct, mr, args.method, model, batch_size=args.batch_size, progress=progress, streams=streams)
    model = model.result() if model is not None else None
    if args.output:
        write_image(fused, args.output)
    if dicom_ct is not None:
        from CTMRFusionLib.dicom.export import deliver, fusion_outputs  # noqa: PLC0415 — pydicom, requests

        print_warnings(deliver(fusion_outputs(dicom_ct, ct, fused, args.method), args))
    size = "×".join(str(s) for s in fused.GetSize())
    threads_text = f"{threads} thread{'' if threads == 1 else 's'}"
    where = f" on {model.device}, {threads_text}, model SHA-256 {model.sha256}" if model is not None else ""
    destinations = " and ".join(str(d) for d in (args.output, args.dicom_out, args.stow) if d)
    print(f"Fused ({args.method}{where}) {size} in {time.perf_counter() - started:.1f} s → {destinations}")
