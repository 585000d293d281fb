"""The bundled sample pair: MRI-DIR porcine head phantom, CT 1.5 mm and MR T2 1×1×2.5 mm, with 14 landmarks.

Data: TCIA MRI-DIR (CC BY 4.0). Ger R.B. et al., "Synthetic head and neck and phantom images for
determining deformable image registration accuracy in magnetic resonance imaging", Med Phys 2018,
doi:10.1002/mp.13090; data doi:10.7937/K9/TCIA.2018.3f08iejt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from CTMRFusionLib.resources import resource_path

ATTRIBUTION = (
    "Sample data: TCIA MRI-DIR porcine phantom (CC BY 4.0), Ger R.B. et al., Med Phys 2018, "
    "doi:10.1002/mp.13090; data doi:10.7937/K9/TCIA.2018.3f08iejt."
)


#: SHA-256 of the bundled files (also used by Slicer's SampleData registration).
CHECKSUMS = {
    "ct_1p5mm.nrrd": "20ff147acd3c10538b43e711d6387a6adfd76651ed595f78332b73b5adb0b4a0",
    "mr_t2_1mm.nrrd": "c8fbf1931eacff0622e123d42c3955188641b00dff3a2da3316a82c48ba2df3f",
}


@dataclass(frozen=True)
class SamplePair:
    ct: Path
    mr: Path
    ct_landmarks: Path
    mr_landmarks: Path


def demo_pair() -> SamplePair:
    """Paths of the bundled demo pair; raises ``FileNotFoundError`` with a hint if they are missing."""
    root = resource_path("SampleData", "mri_dir_porcine")
    pair = SamplePair(
        root / "ct_1p5mm.nrrd",
        root / "mr_t2_1mm.nrrd",
        root / "ct_landmarks.mrk.json",
        root / "mr_landmarks.mrk.json",
    )
    missing = [str(p) for p in vars(pair).values() if not p.is_file()]
    if missing:
        raise FileNotFoundError("Bundled sample data not found (run from a CTMRFusion checkout): " + ", ".join(missing))
    return pair
