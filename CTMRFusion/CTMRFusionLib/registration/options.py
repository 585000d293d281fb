"""Options of the rigid CT–MR registration, with defaults that work on real data, and presets (JSON data files)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from CTMRFusionLib.io.atomic_files import write_text

PRESETS_DIR = Path(__file__).resolve().parent / "presets"

INITIALIZERS = ("search", "deep", "moments", "geometry", "identity")
SAMPLING_STRATEGIES = ("random", "regular", "none")
OPTIMIZERS = ("regular_step_gradient_descent", "gradient_descent")
INTERPOLATORS = ("sinc", "bspline", "linear")
FINE_METRICS = ("numpy", "simpleitk")
#: Inclusive (low, high) of the numeric options a user sets by hand (panel, presets); ``validate`` enforces them and
#: the module panel's spin boxes take them as their ranges.
OPTION_RANGES = {
    "histogram_bins": (8, 512),
    "sampling_percentage": (0.01, 1.0),
    "iterations": (1, 10000),
    "maximum_samples": (1000, 10_000_000),
    "random_seed": (0, 2**31 - 1),
    "learning_rate": (1e-6, 100.0),
    "minimum_step_mm": (1e-4, 10.0),
    "convergence_window": (1, 1000),
    "convergence_minimum_value": (0.0, 1.0),
    "mask_margin_mm": (0.0, 200.0),
    "search_spacing_mm": (0.5, 50.0),
    "search_translation_step_mm": (0.0, 200.0),
    "search_candidates": (1, 24),
    "search_iterations": (1, 10000),
}
#: Pyramid levels: how many, and each spacing and smoothing sigma (mm).
MAX_LEVELS = 8
LEVEL_SPACING_RANGE_MM = (0.05, 100.0)
SMOOTHING_SIGMA_RANGE_MM = (0.0, 100.0)


@dataclass
class RegistrationOptions:
    """Rigid (Euler3D) registration of a moving MR onto a fixed CT with Mattes mutual information.

    Pyramid: ``level_spacings_mm`` are the voxel sizes (mm) of the levels, coarse to fine; each level is
    smoothed with the matching ``smoothing_sigmas_mm`` (mm, Gaussian sigma) on top of anti-aliasing.
    Metric: Mattes MI with ``histogram_bins`` bins, sampled by ``sampling_strategy`` ("random", "regular",
    "none" = all voxels) at ``sampling_percentage`` (0–1) of the level's CT-mask voxels but at most
    ``maximum_samples`` points, with the fixed ``random_seed``.
    Optimizer: ``optimizer`` is "regular_step_gradient_descent" (the default: step ``learning_rate`` mm,
    halved at each reversal down to ``minimum_step_mm``, so each level ends within about that distance of its
    metric's optimum: 0.1 mm, a fifteenth of the finest voxel, where the errors against the truth are ~2 mm) or
    "gradient_descent" (the learning rate estimated each iteration so that a step moves CT points by at most
    ``learning_rate`` × a quarter of the level's voxel; stops when the metric changes less than
    ``convergence_minimum_value`` over ``convergence_window`` iterations, and answers the mean of those last
    iterates; on SimpleITK's metric at every level: on the sample pair 2.50 mm landmark TRE in 7.2 s, where the
    default gives 2.23 mm in 6.6 s); at most ``iterations`` per level.
    ``fine_metric``: with the regular-step descent, the finest level is optimised on the project's own Mattes MI
    (:mod:`~CTMRFusionLib.registration.mattes_mi`, "numpy": the same estimate, a derivative whose descent
    converges in tens of iterations) or on SimpleITK's ("simpleitk": walks up to ``iterations`` along a valley,
    docs/registration.md). Coarser levels always use SimpleITK's.
    Scales come from physical shifts, so 1 radian and 1 mm are weighed by how far they move the fixed image's points.
    Masks: ``mask`` "auto" builds a body mask of each image (no HU assumption) and lets the metric see the
    fixed mask grown by ``mask_margin_mm``, so the subject's outline counts but the table does not; "none"
    uses every voxel. User masks passed to the registration take precedence.
    Intensities: clipped to the ``clip_percentiles`` of the voxels in each body mask (tames FOV padding
    such as -2048 HU, and metal).
    Initializer: "search" (the 24 axis-aligned orientations, each also tilted by ±``search_angle_deg``
    about each axis, and the masks' principal-axes alignments, about the mask centroids, scored by MI on a
    ``search_spacing_mm`` grid; the best ``search_candidates`` distinct ones get translations of
    ±``search_translation_step_mm`` and are refined there), "moments" (mask centroids, no rotation),
    "geometry" (image centres) or "identity"; "deep" (needs torch) lets the registration network
    (:mod:`deep_initializer`) correct the start — the given initial transform, else the "moments" alignment —
    in ``deep_passes`` passes; it covers starts within about ±60° / ±60 mm of the truth, not flipped patient
    orientations. ``deep_polish`` (default on) then gives the network's answer the search's last stages on
    the ``search_spacing_mm`` grid: its rotation and its tilts by ±``deep_polish_angle_deg`` are scored by
    MI, and the best ``deep_polish_candidates`` get the best of 27 translations
    (±``search_translation_step_mm``) and a short MI optimisation each; ``deep_polish_rounds`` − 1 further
    rounds repeat this from the winner with half the tilt, 0.4× the step and one candidate (2–4 s in all).
    This takes the network's ~10 mm answer into MI's own basin. ``deep_restart_angle_deg`` > 0 also runs the
    network from the start turned by ± that angle about each LPS axis (about the CT body centroid): seven
    answers instead of one, and the polish's first round scores the tilts of all seven (so it needs
    ``deep_polish``). It helps where the network misreads one start and reads a neighbour right
    (default 30°; 0 = one start).
    ``deep_model``: a TorchScript registration network to use instead of the shipped one
    ("" = shipped, hash-checked), on ``deep_device`` ("auto", "cpu", "cuda").
    """

    level_spacings_mm: tuple[float, ...] = (6.0, 3.0, 1.5)
    smoothing_sigmas_mm: tuple[float, ...] = (4.0, 2.0, 0.0)
    histogram_bins: int = 64
    sampling_strategy: str = "random"
    sampling_percentage: float = 0.10
    maximum_samples: int = 200_000
    random_seed: int = 42
    optimizer: str = "regular_step_gradient_descent"
    fine_metric: str = "numpy"
    learning_rate: float = 1.0
    #: 0.1 mm, not 0.01 (until session 17): on the 42 stack runs 38 instead of 36 within issue 16's bar, 2.39
    #: instead of 2.35 mm mean, 18 % less time; the demo pair 2.22 instead of 2.16 mm (docs/registration.md).
    minimum_step_mm: float = 0.1
    iterations: int = 200
    convergence_window: int = 10
    convergence_minimum_value: float = 1e-6
    mask: str = "auto"
    mask_margin_mm: float = 20.0
    clip_percentiles: tuple[float, float] = (0.5, 99.5)
    initializer: str = "search"
    search_spacing_mm: float = 6.0
    search_angle_deg: float = 30.0
    search_translation_step_mm: float = 15.0
    search_candidates: int = 4
    search_iterations: int = 60
    final_interpolator: str = "sinc"
    deep_model: str = ""
    deep_passes: int = 2
    deep_device: str = "auto"
    deep_polish: bool = True
    deep_polish_angle_deg: float = 10.0
    deep_polish_candidates: int = 3
    deep_polish_rounds: int = 4
    deep_restart_angle_deg: float = 30.0

    def __post_init__(self) -> None:
        self._check_types()
        self.level_spacings_mm = tuple(float(v) for v in self.level_spacings_mm)
        self.smoothing_sigmas_mm = tuple(float(v) for v in self.smoothing_sigmas_mm)
        self.clip_percentiles = tuple(float(v) for v in self.clip_percentiles)
        self.validate()

    def _check_types(self) -> None:
        """Each option of the type its field declares (an int is not a float, a bool not a number), numbers
        finite, sequences of the declared length: ``ValueError`` naming the option and what it got."""
        for field in dataclasses.fields(self):
            name, kind, value = field.name, field.type, getattr(self, field.name)
            shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
            if kind.startswith("tuple"):
                length = 2 if kind == "tuple[float, float]" else None
                if not isinstance(value, (tuple, list)) or not all(_is_number(v) for v in value):
                    raise ValueError(f"Invalid registration option: {name} must be a list of numbers, got {shown}.")
                if length is not None and len(value) != length:
                    raise ValueError(f"Invalid registration option: {name} needs {length} numbers, got {len(value)}.")
                if len(value) > MAX_LEVELS:
                    raise ValueError(
                        f"Invalid registration option: {name} has {len(value)} levels (at most {MAX_LEVELS})."
                    )
            elif kind == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
                raise ValueError(f"Invalid registration option: {name} must be a whole number, got {shown}.")
            elif kind == "float" and not _is_number(value):
                raise ValueError(f"Invalid registration option: {name} must be a finite number, got {shown}.")
            elif kind == "bool" and not isinstance(value, bool):
                raise ValueError(f"Invalid registration option: {name} must be true or false, got {shown}.")
            elif kind == "str" and not isinstance(value, str):
                raise ValueError(f"Invalid registration option: {name} must be text, got {shown}.")

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first option that is out of range."""
        checks = [
            *(
                (low <= getattr(self, name) <= high, f"{name} must be in {low}..{high}, got {getattr(self, name)}")
                for name, (low, high) in OPTION_RANGES.items()
            ),
            *(
                (all(low <= v <= high for v in getattr(self, name)), f"{name} must each be in {low}..{high} mm")
                for name, (low, high) in (
                    ("level_spacings_mm", LEVEL_SPACING_RANGE_MM),
                    ("smoothing_sigmas_mm", SMOOTHING_SIGMA_RANGE_MM),
                )
            ),
            (len(self.level_spacings_mm) > 0, "level_spacings_mm needs at least one level"),
            (
                len(self.level_spacings_mm) == len(self.smoothing_sigmas_mm),
                "level_spacings_mm and smoothing_sigmas_mm need the same number of levels",
            ),
            (self.sampling_strategy in SAMPLING_STRATEGIES, f"sampling_strategy must be one of {SAMPLING_STRATEGIES}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.fine_metric in FINE_METRICS, f"fine_metric must be one of {FINE_METRICS}"),
            (self.mask in ("auto", "none"), "mask must be 'auto' or 'none'"),
            (
                0 <= self.clip_percentiles[0] < self.clip_percentiles[1] <= 100,
                "clip_percentiles must be 0 <= low < high <= 100",
            ),
            (self.initializer in INITIALIZERS, f"initializer must be one of {INITIALIZERS}"),
            (0 <= self.search_angle_deg < 45, "search_angle_deg must be in [0, 45)"),
            (1 <= self.deep_passes <= 5, "deep_passes must be in 1..5"),
            (self.deep_polish_candidates >= 1, "deep_polish_candidates must be >= 1"),
            (1 <= self.deep_polish_rounds <= 4, "deep_polish_rounds must be in 1..4"),
            (0 <= self.deep_polish_angle_deg < 45, "deep_polish_angle_deg must be in [0, 45)"),
            (0 <= self.deep_restart_angle_deg <= 90, "deep_restart_angle_deg must be in [0, 90]"),
            (self.final_interpolator in INTERPOLATORS, f"final_interpolator must be one of {INTERPOLATORS}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Invalid registration option: {message}.")

    def replace(self, **changes) -> RegistrationOptions:
        """A copy with some options changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RegistrationOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown registration option(s): {', '.join(unknown)}.")
        return cls(**values)

    @classmethod
    def from_preset(cls, name: str) -> RegistrationOptions:
        """Options of a bundled preset (``presets/<name>.json`` in this package) or of a user preset file
        (a path ending in ``.json``, see :func:`write_preset_file`); defaults for the keys it does not set."""
        if str(name).lower().endswith(".json") and name not in preset_names():
            return read_preset_file(name)
        path = PRESETS_DIR / f"{name}.json"
        if not path.is_file():
            raise ValueError(f"Unknown preset '{name}'; available: {', '.join(preset_names())}, or a .json file.")
        return cls.from_dict(json.loads(path.read_text())["options"])


def _is_number(value) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def preset_names() -> list[str]:
    """Names of the bundled presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


#: A preset file is a few hundred bytes; anything this large is not one.
MAX_PRESET_BYTES = 1 << 20


def read_preset_file(path) -> RegistrationOptions:
    """A user preset: a JSON file ``{"description": ..., "options": {name: value}}`` as :func:`write_preset_file`
    writes it (and as the bundled presets are). Unknown or invalid options raise ``ValueError`` naming them."""
    path = Path(path)
    if not path.is_file():  # a FIFO or a device would block or never end
        raise ValueError(f"Preset file {path}: {'not found' if not path.exists() else 'not a regular file'}.")
    if path.stat().st_size > MAX_PRESET_BYTES:
        raise ValueError(f"Preset file {path}: larger than {MAX_PRESET_BYTES // 1024} kB; a preset is a few lines.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"Preset file {path}: cannot read it as JSON ({error}).") from None
    except RecursionError:
        raise ValueError(f"Preset file {path}: nested too deeply to be a preset.") from None
    if not isinstance(document, dict) or not isinstance(document.get("options"), dict):
        raise ValueError(f"Preset file {path}: expected a JSON object with an 'options' object.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in document["options"].items()}
    try:
        return RegistrationOptions.from_dict(values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Preset file {path}: {error}") from None


def write_preset_file(options: RegistrationOptions, path, description: str = "") -> None:
    """Save ``options`` as a user preset (JSON, atomically): only the options that differ from the defaults,
    so the file reads as what the user chose."""
    defaults = RegistrationOptions().to_dict()
    changed = {k: v for k, v in options.to_dict().items() if v != defaults[k]}
    write_text(path, json.dumps({"description": description, "options": changed}, indent=2) + "\n")


def resolve_preset(value: str, base_folder=None) -> str:
    """A bundled preset's name as it is, or a user preset file (``.json``, relative to ``base_folder``) as an
    absolute path after checking that it loads; ``ValueError`` naming the problem otherwise."""
    if value in preset_names():
        return value
    if not str(value).lower().endswith(".json"):
        raise ValueError(f"Unknown preset '{value}'; available: {', '.join(preset_names())}, or a .json file.")
    path = Path(value).expanduser()
    path = path if path.is_absolute() or base_folder is None else Path(base_folder) / path
    if not path.is_file():
        raise ValueError(f"Preset file {path} not found.")
    read_preset_file(path)
    return str(path.resolve())
