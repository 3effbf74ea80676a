"""Fast inference: tiles blend without seams, masks, strength and colour work, the command line and the library."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from support import draw_content

from engine.cli import main
from engine.fast.infer import FastStylizer
from engine.fast.stylize_fast import stylize_fast
from engine.fast.model_file import MAX_MODEL_BYTES, ModelInfo, read_model_info, save_model
from engine.fast.models import BUNDLED_DIR
from engine.fast.network import TransformerNet
from engine.imageio.color import rgb_to_yiq
from engine.imageio.images import read_rgb, read_settings
from engine.imageio.tensors import to_tensor
from engine.optimizer.masks import Region
from engine.runtime.errors import EngineError


def _random_model(path, seed: int):
    torch.manual_seed(seed)
    return save_model(path, TransformerNet("small"),
                      ModelInfo("small", {"name": path.stem}, {"steps": 0}, {"source": "caffe"}))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return _random_model(tmp_path_factory.mktemp("models") / "a.safetensors", 0)


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    return _random_model(tmp_path_factory.mktemp("models") / "b.safetensors", 1)


def test_tiled_inference_matches_untiled_without_seams(model):
    stylizer = FastStylizer(model, "cpu")
    pixels = to_tensor(draw_content(320, 240), torch.device("cpu"))
    whole = stylizer.run(pixels)
    tiled = stylizer.run(pixels, tile_px=160)
    difference = (whole - tiled).abs()
    assert float(difference.mean()) < 0.003 and float(difference.max()) < 0.12
    # Across every tile boundary, the tiled image steps no more than the untiled one does.
    for column in (80, 160, 240):  # 160 px tiles on the 320 px side span 0-160, 80-240 and 160-320
        step_tiled = (tiled[..., column] - tiled[..., column - 1]).abs().mean()
        step_whole = (whole[..., column] - whole[..., column - 1]).abs().mean()
        assert float(step_tiled) < float(step_whole) + 0.01
    assert stylizer.network.norms()[0].frozen is None  # shared statistics are released after the image


def test_output_size_strength_and_colour(model):
    content = draw_content(96, 72)
    full = stylize_fast(content, model, device="cpu").image
    assert full.shape == (72, 96, 3)
    assert stylize_fast(content, model, size_px=48, device="cpu").image.shape == (36, 48, 3)
    np.testing.assert_allclose(stylize_fast(content, model, style_strength=0, device="cpu").image, content, atol=1e-6)
    half = stylize_fast(content, model, style_strength=0.5, device="cpu").image
    np.testing.assert_allclose(half, (content + full) / 2, atol=1e-5)
    kept = stylize_fast(content, model, preserve_color="luminance", device="cpu").image
    chroma_change = np.abs(rgb_to_yiq(kept)[..., 1:] - rgb_to_yiq(content)[..., 1:])
    assert chroma_change.mean() < 0.005  # only pixels clipped back into gamut move
    with pytest.raises(EngineError, match="strength"):
        stylize_fast(content, model, style_strength=2, device="cpu")


def test_mask_keeps_original_and_gives_regions_their_own_model(model, other_model):
    content = draw_content(96, 72)
    labels = np.zeros((72, 96), np.int64)
    labels[:, 32:64] = 1
    labels[:, 64:] = 2
    result = stylize_fast(content, model, label_map=labels, device="cpu",
                          regions={1: Region(keep_original=True), 2: Region(model=str(other_model))}).image
    a = stylize_fast(content, model, device="cpu").image
    b = stylize_fast(content, other_model, device="cpu").image
    np.testing.assert_allclose(result[:, :32], a[:, :32], atol=1e-6)
    np.testing.assert_allclose(result[:, 32:64], content[:, 32:64], atol=1e-6)
    np.testing.assert_allclose(result[:, 64:], b[:, 64:], atol=1e-6)
    with pytest.raises(EngineError, match="not in the mask"):
        stylize_fast(content, model, label_map=labels, regions={7: Region(keep_original=True)}, device="cpu")


def test_stylize_model_command_end_to_end(tmp_path, model, content_png, capsys, monkeypatch):
    monkeypatch.setenv("NST_MODELS_DIR", str(model.parent))
    output = tmp_path / "fast.png"
    assert main(["stylize", "--model", "a", "--content", str(content_png), "--output", str(output),
                 "--strength", "0.8", "--device", "cpu"]) == 0
    assert read_rgb(output).shape == (72, 96, 3)
    settings = read_settings(output)
    assert settings["method"] == "fast" and settings["model"] == "a" and settings["style_strength"] == 0.8
    assert settings["command"].startswith("python -m engine stylize --model a")
    mask = tmp_path / "mask.png"
    labels = np.zeros((72, 96), np.uint8)
    labels[:, 48:] = 1
    Image.fromarray(labels).save(mask)
    assert main(["stylize", "--model", str(model), "--content", str(content_png), "--output", str(output),
                 "--mask", str(mask), "--region-style", "1=keep", "--quiet"]) == 0
    np.testing.assert_allclose(read_rgb(output)[:, 49:], read_rgb(content_png)[:, 49:], atol=1 / 255)


@pytest.mark.parametrize("args, message", [
    (["--model", "no_such_model"], "no model named 'no_such_model'"),
    (["--model", "missing.safetensors"], "model file not found"),
    (["--model", "{pickle}"], "Python pickle"),
    (["--model", "a", "--style", "x.jpg"], "not both"),
    ([], "give --style (optimization) or --model"),
    (["--model", "a", "--size", "4"], "--size: 4 is out of range"),
])
def test_bad_fast_input_exits_2_with_one_line_and_no_output(tmp_path, model, content_png, capsys, monkeypatch,
                                                            args, message):
    monkeypatch.setenv("NST_MODELS_DIR", str(model.parent))
    pickled = tmp_path / "model.safetensors"
    pickled.write_bytes(b"\x80\x04\x95" + bytes(40))
    output = tmp_path / "out.png"
    args = [a.replace("{pickle}", str(pickled)) for a in args]
    code = main(["stylize", "--content", str(content_png), "--output", str(output), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not output.exists()


def test_models_command_lists_user_and_bundled_models(tmp_path, model, capsys, monkeypatch):
    user = tmp_path / "user"
    user.mkdir()
    (user / "mine.safetensors").write_bytes(model.read_bytes())
    (user / "broken.safetensors").write_bytes(b"not a model")
    monkeypatch.setenv("NST_MODELS_DIR", str(user))
    assert main(["models", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert listed["mine"]["location"] == "user" and listed["mine"]["problem"] is None
    assert "not a fast-stylization model" in listed["broken"]["problem"]
    assert {"starry_night", "shipwreck"} <= {n for n, e in listed.items() if e["location"] == "bundled"}


@pytest.mark.parametrize("name", ["starry_night", "shipwreck"])
def test_bundled_models_are_small_and_say_how_they_were_trained(name):
    path = BUNDLED_DIR / f"{name}.safetensors"
    info = read_model_info(path)
    assert path.stat().st_size < MAX_MODEL_BYTES
    assert info.style["file"] == f"{name}.jpg" and info.loss_network["source"] == "caffe"
    assert info.training["command"].startswith("python -m engine train")
    assert info.training["steps"] > 0 and info.training["time_s"] > 0 and info.training["device"]
