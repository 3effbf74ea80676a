"""Fast-model files: a save/load round trip is exact, metadata is validated, foreign or corrupt files are refused."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from engine.fast.model_file import MAX_MODEL_BYTES, ModelInfo, load_model, save_model
from engine.fast.network import TransformerNet
from engine.runtime.errors import EngineError


def _info(**changes) -> ModelInfo:
    fields = dict(variant="small", style={"name": "starry_night"}, training={"steps": 1},
                  loss_network={"source": "caffe"})
    return ModelInfo(**{**fields, **changes})


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(3)
    network = TransformerNet("small").eval()
    return network, save_model(tmp_path / "model.safetensors", network, _info())


def test_round_trip_gives_identical_outputs_and_metadata(saved):
    network, path = saved
    loaded, info = load_model(path)
    image = torch.rand(1, 3, 37, 53)
    with torch.inference_mode():
        assert torch.equal(network(image), loaded(image))
    assert info == _info()
    assert path.stat().st_size < MAX_MODEL_BYTES


def test_guide_channels_round_trip(tmp_path):
    network = TransformerNet("small", guide_channels=3)
    path = save_model(tmp_path / "shot.safetensors", network,
                      _info(guide_channels=["V.Normal.X", "V.Normal.Y", "V.Normal.Z"], guide_ranges=[[-1, 1]] * 3,
                            kind="shot"))
    loaded, info = load_model(path)
    assert info.guide_channels == ["V.Normal.X", "V.Normal.Y", "V.Normal.Z"] and info.kind == "shot"
    assert loaded(torch.rand(1, 6, 32, 32)).shape == (1, 3, 32, 32)


def _with_metadata(tmp_path, network, metadata: dict | None):
    path = tmp_path / "edited.safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format="someone-else"), "not a fast-stylization model"),
    (lambda m: m.update(version=99), "format version 99"),
    (lambda m: m.pop("style"), "'style' is missing"),
    (lambda m: m.update(training="fast"), "'training' is missing or not a dict"),
    (lambda m: m.update(variant="huge"), "unknown network variant 'huge'"),
    (lambda m: m.update(guide_channels=["A"], guide_ranges=[]), "guide_channels"),
])
def test_metadata_is_validated(tmp_path, saved, edit, message):
    network, path = saved
    metadata = json.loads(safe_open(str(path), "pt").metadata()["nst"])
    edit(metadata)
    edited = _with_metadata(tmp_path, network, {"nst": json.dumps(metadata)})
    with pytest.raises(EngineError, match=message):
        load_model(edited)


def test_weights_that_do_not_fit_the_network_are_refused(tmp_path):
    path = save_model(tmp_path / "johnson.safetensors", TransformerNet("johnson"), _info())
    metadata = json.loads(safe_open(str(path), "pt").metadata()["nst"])
    assert metadata["variant"] == "small"  # the weights are the larger network's: shapes disagree
    with pytest.raises(EngineError, match="shape"):
        load_model(path)


def _pickle(path):
    with open(path, "wb") as handle:
        pickle.dump({"weight": np.zeros(3)}, handle)


@pytest.mark.parametrize("make, message", [
    (_pickle, "Python pickle, which this engine never loads"),
    (lambda p: torch.save({"w": torch.zeros(2)}, p), "zip archive"),
    (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "not a readable safetensors file"),
    (lambda p: p.write_bytes(b""), "not a readable safetensors file"),
    (lambda p: save_file({"w": torch.zeros(2)}, str(p)), "without our 'nst' metadata"),
    (lambda p: save_file({"w": torch.zeros(2)}, str(p), metadata={"nst": "{not json"}), "not valid JSON"),
])
def test_foreign_or_corrupt_files_give_a_clear_error(tmp_path, make, message):
    path = tmp_path / "model.safetensors"
    make(path)
    with pytest.raises(EngineError, match=message):
        load_model(path)


def test_a_truncated_model_is_refused(tmp_path, saved):
    _, path = saved
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(EngineError, match="cut.safetensors"):
        load_model(cut)


def test_save_model_is_atomic_and_checks_the_name(tmp_path):
    with pytest.raises(EngineError, match="must end in .safetensors"):
        save_model(tmp_path / "model.pt", TransformerNet("small"), _info())
    assert list(tmp_path.iterdir()) == []


def test_a_model_whose_header_length_starts_like_a_pickle_still_loads(tmp_path):
    """The safetensors header length is the first 8 bytes; 0x80 there must not be mistaken for a pickle."""
    path = tmp_path / "model.safetensors"
    for padding in range(256):
        save_model(path, TransformerNet("small"), _info(training={"note": "x" * padding}))
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    assert load_model(path)[1].training["note"] == "x" * padding
