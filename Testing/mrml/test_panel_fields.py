"""The panel's fields come from the logic's lists and ranges, and the chosen preset is respected."""

import pytest

from CTMRFusionLib.mrml.panel_fields import CHOICES, RANGES, preset_values, registration_options
from CTMRFusionLib.registration.options import RegistrationOptions


def test_each_preset_puts_its_own_values_into_the_advanced_fields():
    assert preset_values("default") == {"histogramBins": 64, "samplingPercentage": 0.10, "iterations": 200}
    assert preset_values("fast")["samplingPercentage"] == 0.05
    assert preset_values("fine")["samplingPercentage"] == 0.15
    for preset in CHOICES["preset"]:
        for field, value in preset_values(preset).items():
            low, high = RANGES[field]
            assert low <= value <= high, f"{preset}: {field} {value} outside the panel's range {RANGES[field]}"


def test_a_preset_runs_as_defined_unless_the_user_changed_a_field():
    fast = RegistrationOptions.from_preset("fast")
    untouched = registration_options("fast", "linear", "search", preset_values("fast"))
    assert untouched == fast.replace(final_interpolator="linear")
    # The old panel overwrote every preset with its fields: "fast" ran at the default's 10 % sampling.
    assert untouched.sampling_percentage == 0.05
    edited = registration_options("fast", "sinc", "moments", {**preset_values("fast"), "histogramBins": 32})
    assert edited == fast.replace(histogram_bins=32, initializer="moments")


def test_values_outside_the_ranges_are_refused_by_the_options_themselves():
    low, high = RANGES["samplingPercentage"]
    with pytest.raises(ValueError, match="sampling_percentage must be in 0.01..1.0"):
        registration_options("default", "sinc", "search", {"samplingPercentage": high + 0.5})
    with pytest.raises(ValueError, match="histogram_bins must be in 8..512"):
        RegistrationOptions(histogram_bins=RANGES["histogramBins"][0] - 1)
