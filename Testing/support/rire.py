"""Reader for RIRE ``.standard`` ground-truth files and TRE computed the RIRE way.

A RIRE (Retrospective Image Registration Evaluation, Vanderbilt) standard file lists points of the "From"
image (the 8 corners of the CT volume, or volume-of-interest centres) with their ground-truth positions
in the "To" image, all in mm in RIRE's image frames. The error of a registration at each point is
|T(p) - q| for a From→To transform T; for a file "From: CT To: mr_T1", T maps CT points to MR points, the
same direction as CTMRFusion's fixed (CT) → moving (MR) transforms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.io.landmark_files import LandmarkError
from CTMRFusionLib.registration.tre import point_errors

_ROW = re.compile(r"^\s*(\d+)\s+" + r"\s+".join([r"(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"] * 6) + r"\s*$")


@dataclass
class RireStandard:
    """Ground truth of one RIRE pair: ``source_points`` (From image, mm) map to ``target_points`` (To image, mm)."""

    source: str
    target: str
    patient: str
    source_points: np.ndarray
    target_points: np.ndarray

    def errors(self, transform: sitk.Transform) -> np.ndarray:
        """Per-point error (mm) of a From→To ``transform``."""
        return point_errors(transform, self.source_points, self.target_points)


def read_rire_standard(path) -> RireStandard:
    """Parse a RIRE ``.standard`` file (header fields From/To/Patient number, then the point table)."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        raise LandmarkError(f"Cannot read RIRE file {path}: {error}") from error
    header = {}
    for key in ("From", "To", "Patient number"):
        match = re.search(rf"^{key}:\s*(.+?)\s*$", text, re.MULTILINE)
        header[key] = match.group(1) if match else ""
    rows = [_ROW.match(line) for line in text.splitlines()]
    values = np.array([[float(v) for v in m.groups()[1:]] for m in rows if m])
    if values.size == 0:
        raise LandmarkError(f"{path.name}: no point rows found; is this a RIRE .standard file?")
    return RireStandard(header["From"], header["To"], header["Patient number"], values[:, :3], values[:, 3:])
