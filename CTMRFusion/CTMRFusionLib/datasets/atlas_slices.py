"""The Harvard Whole Brain Atlas CT/MR-T2 slice pairs used to train and evaluate fusion.

Layout (as in ``shared/data/harvard_ctmri``): ``CT/NNNNN.png`` and ``MRI/NNNNN.png``, 256×256 8-bit,
co-registered; the name is case + 3-digit slice number (``32009`` = case 32, slice 9). Splits are by case,
never by slice, so validation slices come from patients the model never saw.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.io.images import grey_array

#: Cases held out for validation and the benchmarks (the other five train both networks); the one definition.
VALIDATION_CASES = ("33", "37")


@dataclass(frozen=True)
class SlicePair:
    case: str
    slice_number: int
    ct_path: Path
    mr_path: Path


def read_grey_png(path) -> np.ndarray:
    """A single-channel 8-bit image as a 2D uint8 array (RGB files are converted to luminance)."""
    return grey_array(sitk.ReadImage(str(path)), str(path))


def find_pairs(root) -> list[SlicePair]:
    """All CT/MR slice pairs under ``root`` (sorted by case and slice)."""
    root = Path(root)
    ct_dir, mr_dir = root / "CT", root / "MRI"
    if not ct_dir.is_dir() or not mr_dir.is_dir():
        raise InvalidInputError(f"{root} must contain CT/ and MRI/ folders of matching PNG slices.")
    pairs = []
    for ct_path in sorted(ct_dir.glob("*.png")):
        mr_path = mr_dir / ct_path.name
        stem = ct_path.stem
        if not mr_path.is_file() or not stem.isdigit() or len(stem) < 4:
            continue
        pairs.append(SlicePair(stem[:-3], int(stem[-3:]), ct_path, mr_path))
    if not pairs:
        raise InvalidInputError(f"No CT/MRI PNG pairs named <case><3-digit slice>.png in {root}.")
    return sorted(pairs, key=lambda p: (int(p.case), p.slice_number))


def split_by_case(pairs: list[SlicePair], validation_cases=VALIDATION_CASES):
    """(train, validation) lists of pairs; a case is entirely in one of them."""
    validation_cases = {str(c) for c in validation_cases}
    train = [p for p in pairs if p.case not in validation_cases]
    validation = [p for p in pairs if p.case in validation_cases]
    return train, validation


def case_folds(case_names, first=VALIDATION_CASES, size: int = 2) -> list[tuple[str, ...]]:
    """The validation cases of each fold of a k-fold validation by case: ``first`` (the standing validation
    cases, so that the models trained so far are fold 1's) when all of them are present, then the other cases
    in numeric order in groups of ``size`` (the last group may be smaller). Every case is validated in exactly
    one fold; with the 7 Harvard cases: (33, 37), (2, 20), (28, 32), (34,)."""
    names = sorted({str(c) for c in case_names}, key=int)
    if size < 1:
        raise ValueError(f"fold size must be at least 1, not {size}")
    head = tuple(str(c) for c in first) if first and set(map(str, first)) <= set(names) else ()
    rest = [c for c in names if c not in head]
    folds = [head] if head else []
    folds += [tuple(rest[i : i + size]) for i in range(0, len(rest), size)]
    if len(folds) < 2:
        raise ValueError(f"k-fold by case needs at least 2 folds; cases present: {names}")
    return folds


def cases(pairs: list[SlicePair]) -> dict[str, list[SlicePair]]:
    grouped = defaultdict(list)
    for pair in pairs:
        grouped[pair.case].append(pair)
    return dict(grouped)


def load_arrays(pairs: list[SlicePair]) -> tuple[np.ndarray, np.ndarray]:
    """CT and MR stacks (n, H, W) as uint8."""
    ct = np.stack([read_grey_png(p.ct_path) for p in pairs])
    mr = np.stack([read_grey_png(p.mr_path) for p in pairs])
    return ct, mr
