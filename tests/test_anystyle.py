"""Any-style network: the weights reader, parity with onnxruntime, and every control tested for its effect.

Tiny images; the style vectors of the shipped paintings are computed once per session (memory cache).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from support import REPO, STYLES

from engine.anystyle import AnyStyleStylizer, get_any_stylizer
from engine.anystyle.network import ConvNorm
from engine.anystyle.weights import PREDICT_FILE, TRANSFORM_FILE, WEIGHTS_DIR_ENV, weights_dir
from engine.cli import main
from engine.imageio.color import rgb_to_yiq
from engine.imageio.images import read_rgb, read_settings
from engine.imageio.tensors import resize_image, to_numpy, to_tensor
from engine.measures.metrics import content_distance, style_distance
from engine.optimizer.masks import Region
from engine.runtime.errors import EngineError

sys.path.insert(0, str(REPO / "scripts"))  # the parity script's onnxruntime sessions


@pytest.fixture(scope="module")
def stylizer() -> AnyStyleStylizer:
    return get_any_stylizer("cpu", cache_dir=None)


def _square(image: np.ndarray, side_px: int) -> np.ndarray:
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    return to_numpy(resize_image(to_tensor(image[top:top + side, left:left + side], torch.device("cpu")), side_px, side_px))


@pytest.mark.parametrize("float_activations", [True, False], ids=["float-activations", "shipped-int8"])
def test_parity_with_onnxruntime_on_the_same_inputs(stylizer, starry, shipwreck, float_activations):
    """Same weights, same 384 px content and 256 px painting. With the graph's activation fake-quantization taken
    out, onnxruntime and ours agree to float precision (the mapping is exact); as shipped, its int8 activations
    move the result a little (measured 0.02-0.04 on photos)."""
    from anystyle_parity import sessions

    predict, transform = sessions(float_activations)
    style, content = _square(starry, 256), _square(shipwreck, 384)
    theirs_vector = predict.run(None, {"style_image": style[None]})[0].reshape(-1)
    ours_vector = stylizer.style_vector(starry, cache=False).numpy()
    names = [i.name for i in transform.get_inputs()]
    theirs = transform.run(None, {names[0]: content[None], names[1]: theirs_vector.reshape(1, 1, 1, -1)})[0][0]
    with torch.inference_mode():
        stylizer.network.set_style(torch.from_numpy(theirs_vector))
        ours = to_numpy(stylizer.network(to_tensor(content, torch.device("cpu"))))
    if float_activations:
        assert np.abs(ours_vector - theirs_vector).max() < 1e-4 and np.abs(ours - theirs).max() < 1e-4
    else:
        assert np.abs(ours_vector - theirs_vector).mean() < 0.25 * np.abs(theirs_vector).mean()
        assert np.corrcoef(ours_vector, theirs_vector)[0, 1] > 0.95
        assert np.abs(ours - theirs).mean() < 0.05
        assert np.abs(ours - theirs).mean() < 0.2 * np.abs(theirs - content).mean()  # far closer than to the photo


def test_upsampling_as_phases_equals_upsample_then_mirror_convolution():
    torch.manual_seed(0)
    layer = ConvNorm(6, 5, 3, upsample=True).eval()
    layer.norm.set_style(torch.randn(100))
    x = torch.randn(1, 6, 7, 9)
    with torch.no_grad():
        reference = layer.activation(layer.norm(layer.conv(F.interpolate(x, scale_factor=2, mode="nearest"))))
        assert torch.allclose(layer(x), reference, atol=1e-5)


def test_any_size_in_and_out_and_a_cached_style_vector(tmp_path, starry, content):
    first = AnyStyleStylizer("cpu", cache_dir=tmp_path)
    vector = first.style_vector(starry)
    assert vector.shape == (100,) and len(list(tmp_path.glob("*.safetensors"))) == 1
    again = AnyStyleStylizer("cpu", cache_dir=tmp_path)
    assert torch.equal(again.style_vector(starry), vector) and again.cache.hits == 1
    assert not torch.equal(again.style_vector(starry[::-1]), vector)  # other pixels, other vector
    odd = content[:37, :53]
    result = again.stylize(odd, [vector])
    assert result.image.shape == odd.shape and 0 <= result.image.min() and result.image.max() <= 1
    assert np.abs(result.image - odd).mean() > 0.05
    assert result.settings["model"] == "any" and result.settings["width_px"] == 53


def test_a_blend_is_the_weighted_mean_of_style_vectors(stylizer, content, starry, shipwreck):
    a, b = stylizer.style_vector(starry), stylizer.style_vector(shipwreck)
    assert torch.allclose(stylizer.blend([starry, shipwreck], [1, 3]), 0.25 * a + 0.75 * b)
    blended = stylizer.stylize(content, [starry, shipwreck], style_weights=[1, 3]).image
    assert np.array_equal(blended, stylizer.stylize(content, [0.25 * a + 0.75 * b]).image)
    only_a = stylizer.stylize(content, [starry, shipwreck], style_weights=[1, 0]).image
    assert np.array_equal(only_a, stylizer.stylize(content, starry).image)
    assert np.abs(blended - only_a).mean() > 0.02


def test_strength_moves_the_style_vector_toward_the_contents_own(stylizer, content, starry):
    painting, own = stylizer.style_vector(starry), stylizer.style_vector(content, cache=False)
    half = stylizer.stylize(content, [starry], strength=0.5).image
    assert np.array_equal(half, stylizer.stylize(content, [0.5 * painting + 0.5 * own]).image)
    full = stylizer.stylize(content, [starry]).image
    faded = 0.5 * content + 0.5 * full
    assert np.abs(half - faded).mean() > 0.02  # not a pixel fade
    weak = stylizer.stylize(content, [starry], strength=0.25).image
    assert style_distance(weak, starry, 96) > 1.3 * style_distance(full, starry, 96)  # measured 0.61 vs 0.36
    assert content_distance(weak, content, 96) < 0.8 * content_distance(full, content, 96)  # 0.52 vs 0.82
    assert np.array_equal(stylizer.stylize(content, [starry], strength=0).image, content)


def test_preserve_color_keeps_the_contents_chroma(stylizer, content, starry):
    plain = stylizer.stylize(content, [starry]).image
    kept = stylizer.stylize(content, [starry], preserve_color="luminance").image
    chroma = lambda image: rgb_to_yiq(image)[..., 1:]  # noqa: E731
    assert np.abs(chroma(kept) - chroma(content)).mean() < 0.25 * np.abs(chroma(plain) - chroma(content)).mean()
    assert np.abs(rgb_to_yiq(kept)[..., 0] - rgb_to_yiq(plain)[..., 0]).mean() < 0.02


def test_regions_take_their_own_painting_or_keep_their_pixels(stylizer, content, starry, shipwreck):
    mask = np.zeros(content.shape[:2], np.int64)
    mask[:, 48:] = 2
    mask[:10, :10] = 3
    regions = {2: Region(keep_original=True), 3: Region(styles=[shipwreck])}
    result = stylizer.stylize(content, [starry], mask=mask, regions=regions).image
    assert np.array_equal(result[:, 48:], content[:, 48:])
    assert np.allclose(result[10:, :48], stylizer.stylize(content, [starry]).image[10:, :48], atol=1e-6)
    assert np.allclose(result[:10, :10], stylizer.stylize(content, [shipwreck]).image[:10, :10], atol=1e-6)
    with pytest.raises(EngineError, match="not in the mask"):
        stylizer.stylize(content, [starry], mask=mask, regions={7: Region(keep_original=True)})


def test_large_frames_run_as_tiles_without_seams(stylizer, starry):
    frame = to_numpy(resize_image(to_tensor(starry, torch.device("cpu")), 200, 320))
    vector = stylizer.style_vector(starry)
    whole = stylizer.stylize(frame, [vector]).image
    tiled = stylizer.stylize(frame, [vector], tile_px=192).image
    difference = np.abs(tiled - whole)
    assert difference.mean() < 0.01 and np.percentile(difference, 99) < 0.1


def _png(path, image):
    Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)).save(path)
    return str(path)


def test_command_line_blend_regions_and_settings(tmp_path, content_png, content, capsys):
    mask = np.zeros(content.shape[:2], np.uint8)
    mask[:, 48:] = 2
    output = tmp_path / "out.png"
    code = main(["stylize", "--model", "any", "--content", str(content_png), "--style", str(STYLES / "starry_night.jpg"),
                 "--style", str(STYLES / "shipwreck.jpg"), "--style-weights", "1", "3", "--strength", "0.8",
                 "--mask", _png(tmp_path / "mask.png", mask / 255.0), "--region-style", "2=keep",
                 "--output", str(output), "--no-cache", "--quiet", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    image = read_rgb(output)
    assert np.abs(image[:, 48:] - read_rgb(content_png)[:, 48:]).max() < 1 / 255 + 1e-6
    assert np.abs(image[:, :48] - content[:, :48]).mean() > 0.05
    settings = read_settings(output)
    assert settings["model"] == "any" and settings["style_weights"] == [1.0, 3.0] and settings["style_strength"] == 0.8
    assert settings["region_style"] == {"2": "keep"} and len(settings["styles"]) == 2


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_unusable_weights_give_one_line_and_no_output(tmp_path, content_png, monkeypatch, capsys, damage):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / PREDICT_FILE).write_bytes((weights_dir() / PREDICT_FILE).read_bytes())
    if damage == "corrupt":
        (folder / TRANSFORM_FILE).write_bytes((weights_dir() / TRANSFORM_FILE).read_bytes()[:5000] + b"\xff" * 64)
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(folder))
    output = tmp_path / "out.png"
    code = main(["stylize", "--model", "any", "--content", str(content_png), "--style", str(STYLES / "shipwreck.jpg"),
                 "--output", str(output), "--no-cache", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and TRANSFORM_FILE in err and "pip install" in err
    assert not output.exists()
    assert main(["models", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert TRANSFORM_FILE in listed["any"]["problem"]


def test_a_style_that_is_not_an_image_gives_one_line_and_no_output(tmp_path, content_png, capsys):
    output = tmp_path / "out.png"
    code = main(["stylize", "--model", "any", "--content", str(content_png), "--style", str(REPO / "README.md"),
                 "--output", str(output), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "style image" in err and "README.md" in err
    assert not output.exists()
    code = main(["stylize", "--model", "any", "--content", str(content_png), "--output", str(output)])
    assert code == 2 and "--style" in capsys.readouterr().err and not output.exists()


def test_models_lists_any(capsys):
    assert main(["models", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert listed["any"]["kind"] == "any-style" and listed["any"]["problem"] is None
    assert main(["models"]) == 0
    assert "any painting as --style" in capsys.readouterr().out


def test_worker_stylizes_with_model_any_like_the_command_line(tmp_path, content_png):
    output = tmp_path / "worker.png"
    request = {"v": 1, "type": "stylize", "job": "a", "model": "any", "content": str(content_png),
               "styles": [str(STYLES / "starry_night.jpg")], "output": str(output), "cache_dir": None,
               "mask": _png(tmp_path / "mask.png", np.pad(np.full((72, 48), 1 / 255), ((0, 0), (0, 48)))),
               "regions": {"0": {"keep_original": True}}, "options": {"style_strength": 0.9}}
    worker = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()
        events = [json.loads(worker.stdout.readline())]
        while events[-1].get("job") != "a" or events[-1]["type"] not in ("result", "error"):
            events.append(json.loads(worker.stdout.readline()))
        worker.stdin.write(json.dumps({"v": 1, "type": "shutdown"}) + "\n")
        worker.stdin.close()
        assert worker.wait(timeout=60) == 0
    finally:
        worker.kill()
    assert events[-1]["type"] == "result", events
    image, content = read_rgb(output), read_rgb(content_png)
    assert np.array_equal(image[:, 48:], content[:, 48:])  # region 0 kept
    assert np.abs(image[:, :48] - content[:, :48]).mean() > 0.05
    assert read_settings(output)["model"] == "any"
