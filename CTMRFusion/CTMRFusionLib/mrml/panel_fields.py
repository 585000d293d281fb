"""What the module panel offers, from the logic's own definitions: every choice list and every range.

The panel (``CTMRFusion.py``) annotates its parameter-node fields with these (``Choice``, ``WithinRange``), so
the combo boxes list exactly what the logic accepts and the spin boxes take the options' own ranges; one list
serves the logic, the command line and the panel. :func:`registration_options` turns the panel's values into
:class:`~CTMRFusionLib.registration.options.RegistrationOptions` that respect the chosen preset.
"""

from __future__ import annotations

import math

from CTMRFusionLib.fusion.methods import METHODS as FUSION_METHODS
from CTMRFusionLib.ml.torchscript import DEVICES
from CTMRFusionLib.mrml.display_options import CHECKER_SQUARE_RANGE_MM, MODES, OPACITY_RANGE
from CTMRFusionLib.registration.options import (
    INITIALIZERS,
    INTERPOLATORS,
    OPTION_RANGES,
    RegistrationOptions,
    preset_names,
)

#: Panel field → the list its combo box offers.
CHOICES = {
    "preset": tuple(preset_names()),
    "interpolator": INTERPOLATORS,
    "initializer": INITIALIZERS,
    "displayMode": MODES,
    "fusionMethod": FUSION_METHODS,
    "fusionDevice": DEVICES,
}

#: The panel's advanced registration fields → the option each one sets.
ADVANCED_FIELDS = {
    "histogramBins": "histogram_bins",
    "samplingPercentage": "sampling_percentage",
    "iterations": "iterations",
}

#: Panel field → inclusive (low, high): the options' own ranges, and the display's (opacity 0–1, square mm).
RANGES = {
    **{field: OPTION_RANGES[option] for field, option in ADVANCED_FIELDS.items()},
    "opacity": OPACITY_RANGE,
    "checkerSquareMm": CHECKER_SQUARE_RANGE_MM,
}


def preset_values(preset: str) -> dict:
    """The advanced fields' values in ``preset`` (panel field names): where the panel starts when it is chosen."""
    options = RegistrationOptions.from_preset(preset)
    return {field: getattr(options, option) for field, option in ADVANCED_FIELDS.items()}


def registration_options(preset: str, interpolator: str, initializer: str, advanced: dict) -> RegistrationOptions:
    """The options of ``preset`` with the panel's interpolator and initializer, and the advanced fields
    (``advanced``: panel field → value) only where the user changed them from the preset's values."""
    start = preset_values(preset)
    changed = {
        ADVANCED_FIELDS[field]: value
        for field, value in advanced.items()
        if not math.isclose(value, start[field], rel_tol=1e-9, abs_tol=1e-12)
    }
    return RegistrationOptions.from_preset(preset).replace(
        final_interpolator=interpolator, initializer=initializer, **changed
    )
