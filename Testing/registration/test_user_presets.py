"""User presets: options saved as JSON, loaded by the panel and by ``register --preset FILE.json``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from CTMRFusionLib.registration.options import RegistrationOptions, read_preset_file, write_preset_file


def test_a_saved_preset_loads_back_equal_and_holds_only_the_changes(tmp_path):
    options = RegistrationOptions.from_preset("fast").replace(histogram_bins=48, final_interpolator="linear")
    path = tmp_path / "mine.json"
    write_preset_file(options, path, "my quick look")
    document = json.loads(path.read_text())
    assert document["description"] == "my quick look"
    assert document["options"]["histogram_bins"] == 48 and "random_seed" not in document["options"]
    assert read_preset_file(path) == options
    assert RegistrationOptions.from_preset(str(path)) == options


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{broken", "cannot read it as JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"options": {"histogram_bins": 2}}', "histogram_bins must be in 8..512"),
        ('{"options": {"warp_speed": 9}}', "Unknown registration option(s): warp_speed"),
    ],
)
def test_a_bad_preset_file_is_named_with_its_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="bad.json") as error:
        read_preset_file(path)
    assert message in str(error.value)
    command = [sys.executable, "-m", "CTMRFusionLib.cli", "register", "--ct", "x", "--mr", "y", "--transform"]
    run = subprocess.run([*command, str(tmp_path / "t.h5"), "--preset", str(path)], capture_output=True, text=True)
    assert run.returncode == 2 and message in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_the_panel_starts_from_a_loaded_preset_file_and_applies_only_the_users_changes(tmp_path):
    """What the panel's Load preset… does: the advanced fields take the file's values, and the options are the
    file's, with the interpolator/initializer chosen in the panel and only the fields the user then edited."""
    from CTMRFusionLib.mrml.panel_fields import preset_values, registration_options

    saved = RegistrationOptions.from_preset("fine").replace(histogram_bins=40, sampling_percentage=0.3)
    path = tmp_path / "site.json"
    write_preset_file(saved, path)
    fields = preset_values(str(path))
    assert fields["histogramBins"] == 40
    options = registration_options(str(path), "linear", "moments", {**fields, "iterations": 77})
    assert options == saved.replace(final_interpolator="linear", initializer="moments", iterations=77)
