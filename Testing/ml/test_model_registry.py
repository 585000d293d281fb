"""The shipped models as data: models.json names each file, its hash, kind and card; one loader checks them."""

import json

import pytest

from CTMRFusionLib.ml.registry import load_registry, model_entry
from CTMRFusionLib.ml.torchscript import sha256_of


def test_every_registered_model_is_shipped_with_its_hash_and_card():
    registry = load_registry()
    assert set(registry) == {"fusion_unet", "fusion_unet_teacher", "registration_net"}
    for entry in registry.values():
        assert entry.path.is_file() and entry.card_path.is_file(), entry.name
        assert sha256_of(entry.path) == entry.sha256, f"{entry.file} differs from the hash in models.json"
        assert entry.sha256 in entry.card_path.read_text(), f"{entry.card} does not name the file's hash"
        assert entry.kind.startswith("ctmrfusion-")


def test_every_shipped_card_is_generated_from_its_training_record():
    """No card is edited by hand: each equals what its record renders, and the record describes the file."""
    pytest.importorskip("torch")
    from CTMRFusionLib.ml.model_cards import load_record, render

    for entry in load_registry().values():
        record = load_record(entry.path)
        assert record["model_file"] == entry.file and record["task"] == entry.task
        assert record["sha256"] == entry.sha256 and record["size_bytes"] == entry.path.stat().st_size
        assert render(record) == entry.card_path.read_text(), f"{entry.card} differs from its record's rendering"


def _write(tmp_path, models, version=1):
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"schema_version": version, "models": models}))
    return path


def test_a_malformed_registry_is_refused_naming_the_problem(tmp_path):
    good = {
        "name": "m",
        "task": "fusion",
        "file": "m.pt",
        "sha256": "a" * 64,
        "kind": "ctmrfusion-x",
        "input": "i",
        "output": "o",
        "card": "m.md",
    }
    assert load_registry(_write(tmp_path, [good]))["m"].sha256 == "a" * 64
    cases = [
        ([{**good, "sha256": "A" * 64}], "64 lower-case hex"),
        ([{**good, "sha256": "ab"}], "64 lower-case hex"),
        ([{k: v for k, v in good.items() if k != "kind"}], "missing \\['kind'\\]"),
        ([{**good, "extra": "x"}], "unknown \\['extra'\\]"),
        ([good, good], "unique"),
    ]
    for number, (models, message) in enumerate(cases):
        folder = tmp_path / str(number)
        folder.mkdir()
        with pytest.raises(ValueError, match=message):
            load_registry(_write(folder, models))
    folder = tmp_path / "version"
    folder.mkdir()
    with pytest.raises(ValueError, match="schema_version"):
        load_registry(_write(folder, [good], version=2))


def test_unknown_model_names_list_the_registered_ones():
    with pytest.raises(KeyError, match="fusion_unet, fusion_unet_teacher, registration_net"):
        model_entry("nonexistent")


def test_the_expected_hash_of_a_user_model_is_compared_in_any_letter_case(tmp_path):
    pytest.importorskip("torch")
    from CTMRFusionLib.core.errors import InvalidInputError
    from CTMRFusionLib.fusion.model import load_fusion_model

    entry = model_entry("fusion_unet")
    model = load_fusion_model(entry.path, "cpu", expected_sha256=entry.sha256.upper())
    assert model.sha256 == entry.sha256 and model.path == entry.path
    with pytest.raises(InvalidInputError, match="corrupted or altered"):
        load_fusion_model(entry.path, "cpu", expected_sha256="0" * 64)


def test_the_installed_torch_is_read_from_its_metadata_and_meets_the_minimum():
    torch = pytest.importorskip("torch")
    from CTMRFusionLib.ml.torchscript import MINIMUM_TORCH, installed_torch_version, torch_is_usable

    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    assert installed_torch_version() == (major, minor)
    assert torch_is_usable() == ((major, minor) >= MINIMUM_TORCH)


def test_every_shipped_card_names_its_training_data_source_and_terms():
    """The Harvard atlas images carry no open licence: each card says where its data came from and on what terms."""
    from CTMRFusionLib.ml.registry import load_registry

    for entry in load_registry().values():
        card = entry.card_path.read_text()
        assert "Source: the Harvard Whole Brain Atlas" in card, entry.name
        assert "no open licence is stated" in card and "research use" in card, entry.name
