"""Tuning the any-style network to a painting: the effect on a held-out photo, the file, resume, cancel, bad input.

Tiny budgets and small images (scikit-image's photos, a pinned dependency): a few steps at 128 px already move the
result closer to the painting than `--model any` is, on a photo the tuning never saw.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from support import REPO, STYLES

from engine.anystyle import get_any_stylizer
from engine.anystyle.tune import TuneSettings, tune_to_painting
from engine.cli import main
from engine.fast.stylize_fast import get_stylizer, stylize_fast
from engine.fast.model_file import MAX_MODEL_BYTES, read_model_info
from engine.fast.network import TransformerNet
from engine.imageio.images import read_rgb
from engine.measures.metrics import content_distance, style_distance
from engine.runtime.errors import Cancelled

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
TINY = TuneSettings(steps=16, minutes=None, sizes_px=(128,), crop_px=128)


def _small_copy(name: str, folder: Path, longest_px: int = 160) -> Path:
    image = Image.open(SKIMAGE_DATA / name).convert("RGB")
    image.thumbnail((longest_px, longest_px))
    folder.mkdir(parents=True, exist_ok=True)
    image.save(folder / f"{Path(name).stem}.png")
    return folder / f"{Path(name).stem}.png"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tune")
    for name in ("chelsea.png", "coffee.png"):
        _small_copy(name, folder / "photos")
    output = folder / "starry_tuned.safetensors"
    tune_to_painting(STYLES / "starry_night.jpg", [folder / "photos"], output, TINY, device="cpu")
    return output


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> np.ndarray:
    return read_rgb(_small_copy("astronaut.png", tmp_path_factory.mktemp("held_out"), 128))


def test_tuned_model_is_closer_to_the_painting_than_any_on_a_held_out_photo(tuned, held_out, starry):
    any_result = get_any_stylizer("cpu", cache_dir=None).stylize(held_out, [starry]).image
    tuned_result = stylize_fast(held_out, str(tuned), device="cpu").image
    any_distance, tuned_distance = style_distance(any_result, starry, 128), style_distance(tuned_result, starry, 128)
    assert tuned_distance < 0.9 * any_distance, (tuned_distance, any_distance)
    assert content_distance(tuned_result, held_out, 128) < 2.0 * content_distance(any_result, held_out, 128)


def test_tuned_file_records_painting_settings_and_version_and_is_listed(tuned, monkeypatch, capsys):
    assert tuned.stat().st_size < MAX_MODEL_BYTES
    info = read_model_info(tuned)
    assert (info.kind, info.style["file"], info.engine_version) == ("tuned", "starry_night.jpg", "0.1.0")
    assert info.training["steps"] == TINY.steps and info.training["part"] == TINY.part
    monkeypatch.setenv("NST_MODELS_DIR", str(tuned.parent))
    assert main(["models"]) == 0
    assert "any-style tuned to starry_night.jpg" in capsys.readouterr().out


def test_strength_blend_and_regions_keep_their_any_style_meaning(tuned, held_out, starry, shipwreck):
    model = get_stylizer(str(tuned), "cpu")
    full = model.stylize(held_out).image
    assert np.array_equal(model.stylize(held_out, strength=0.0).image, model.stylize(held_out, strength=0).image)
    assert np.abs(model.stylize(held_out, strength=0.0).image - held_out).max() < 1e-5  # 0 returns the content
    half = model.stylize(held_out, strength=0.5).image
    assert 0 < np.abs(half - held_out).mean() < np.abs(full - held_out).mean()
    blend = model.stylize(held_out, [shipwreck], style_weights=[0.5, 0.5]).image
    assert style_distance(blend, starry, 128) > style_distance(full, starry, 128)
    mask = np.zeros(held_out.shape[:2], np.uint8)
    mask[:, : held_out.shape[1] // 2] = 1
    from engine.optimizer.masks import Region

    kept = stylize_fast(held_out, str(tuned), label_map=mask, regions={1: Region(keep_original=True)}, device="cpu")
    left, right = kept.image[:, : held_out.shape[1] // 2 - 4], kept.image[:, held_out.shape[1] // 2 + 4:]
    assert np.abs(left - held_out[:, : held_out.shape[1] // 2 - 4]).max() < 1e-5
    assert np.abs(right - held_out[:, held_out.shape[1] // 2 + 4:]).mean() > 0.05


def test_cancelled_tuning_writes_nothing_and_resume_continues(tmp_path):
    photos = tmp_path / "photos"
    _small_copy("coffee.png", photos, 96)
    output = tmp_path / "t.safetensors"
    settings = TuneSettings(steps=4, minutes=None, sizes_px=(96,), crop_px=96)

    def cancel_at_three(progress):
        if progress.step == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        tune_to_painting(STYLES / "starry_night.jpg", [photos], output, settings, device="cpu", checkpoint_every=2,
                         callback=cancel_at_three)
    assert not output.exists() and (tmp_path / "t.ckpt.safetensors").is_file()
    steps = []
    tune_to_painting(STYLES / "starry_night.jpg", [photos], output, settings, device="cpu", checkpoint_every=2,
                     resume=True, callback=lambda p: steps.append(p.step))
    assert steps == [3, 4] and read_model_info(output).training["steps"] == 4


def test_bad_input_gets_one_line_exit_2_and_nothing_written(tuned, tmp_path, capsys):
    photos = tmp_path / "photos"
    _small_copy("coffee.png", photos, 64)
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt.safetensors").write_bytes(tuned.read_bytes()[:1000])
    save_file({"weight": torch.zeros(3)}, str(tmp_path / "foreign.safetensors"))
    other_network = TransformerNet("small").state_dict()  # the trained-from-scratch network's weights
    with safe_open(str(tuned), "pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    save_file(other_network, str(tmp_path / "other_network.safetensors"), metadata=metadata)
    record = json.loads(metadata["nst"])
    record["training"]["base_weights"] = "0" * 16
    save_file(tensors, str(tmp_path / "other_base.safetensors"), metadata={"nst": json.dumps(record)})
    (tmp_path / "not_an_image.jpg").write_text("not an image")
    content = photos / "coffee.png"
    commands = [["stylize", "--model", str(tmp_path / f"{name}.safetensors"), "--content", str(content), "--output",
                 str(tmp_path / "out.png")] for name in ("corrupt", "foreign", "other_network", "other_base")]
    tune = ["train", "--from", "any", "--steps", "1", "--sizes", "64", "--crop", "64", "--output",
            str(tmp_path / "out.safetensors")]
    commands += [tune + ["--style", str(STYLES / "starry_night.jpg"), "--content-dir", str(tmp_path / "empty")],
                 tune + ["--style", str(STYLES / "starry_night.jpg"), "--content-dir", str(tmp_path / "empty"),
                         "--keyframes", "2"],
                 tune + ["--style", str(STYLES / "starry_night.jpg"), "--content-dir", str(photos), str(photos),
                         "--keyframes", "2"],
                 tune + ["--style", str(tmp_path / "not_an_image.jpg"), "--content-dir", str(photos)]]
    for command in commands:
        capsys.readouterr()
        assert main(command) == 2, command
        error = capsys.readouterr().err.strip()
        assert error.startswith("error: ") and "\n" not in error, error
        assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.safetensors").exists()
    shutil.rmtree(photos)


def test_a_tuned_model_takes_keep_shapes_as_a_guide(tuned, tmp_path, capsys):
    from support import write_synthetic_sequence

    from engine.imageio.images import read_settings
    from engine.measures.metrics import contrast_kept
    from engine.shapes.structure import read_structure_passes

    render_path, passes_path = write_synthetic_sequence(tmp_path, frames=1, height=48, width=64)[0]
    render = read_rgb(render_path)
    passes = read_structure_passes(passes_path, render.shape[:2])
    kept = []
    for strength in ("0", "0.5"):
        output = tmp_path / f"tuned_{strength}.png"
        assert main(["stylize", "--content", str(render_path), "--model", str(tuned), "--output", str(output),
                     "--passes", str(passes_path), "--structure", strength, "--quiet"]) == 0, capsys.readouterr().err
        kept.append(contrast_kept(read_rgb(output), render, passes))
    assert read_settings(output)["structure"] == 0.5 and kept[1] > 1.3 * kept[0]


def test_the_worker_paints_with_a_tuned_model_like_the_command_line(tuned, held_out, tmp_path):
    import subprocess
    import sys

    content = tmp_path / "content.png"
    Image.fromarray((held_out * 255).round().astype(np.uint8)).save(content)
    output, expected = tmp_path / "worker.png", tmp_path / "cli.png"
    request = {"v": 1, "type": "stylize", "job": "a", "model": str(tuned), "content": str(content),
               "output": str(output), "options": {"style_strength": 0.8}}
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
        assert worker.wait(timeout=120) == 0
    finally:
        worker.kill()
    assert any(e["type"] == "result" and e.get("job") == "a" for e in events), events
    assert main(["stylize", "--model", str(tuned), "--content", str(content), "--strength", "0.8", "--output",
                 str(expected), "--quiet"]) == 0
    assert np.abs(read_rgb(output) - read_rgb(expected)).max() <= 1 / 255


def test_tuned_to_a_shot_learns_on_its_keyframes_and_paints_its_other_frames_closer(tmp_path, starry):
    from support import write_synthetic_sequence

    pairs = write_synthetic_sequence(tmp_path / "shot", frames=5, height=48, width=64)
    output = tmp_path / "shot.safetensors"
    assert main(["train", "--from", "any", "--style", str(STYLES / "starry_night.jpg"), "--content-dir",
                 str(tmp_path / "shot"), "--keyframes", "2", "--steps", "16", "--crop", "64", "--output", str(output),
                 "--device", "cpu", "--quiet"]) == 0
    training = read_model_info(output).training
    assert training["keyframe_files"] == ["frame_0000.png", "frame_0004.png"] and training["sizes_px"] == [64]
    middle = read_rgb(pairs[2][0])  # a frame the tuning never saw
    any_result = get_any_stylizer("cpu", cache_dir=None).stylize(middle, [starry]).image
    tuned_result = stylize_fast(middle, str(output), device="cpu").image
    assert style_distance(tuned_result, starry, 64) < 0.9 * style_distance(any_result, starry, 64)


def test_the_style_sheet_paints_a_painting_with_its_tuned_model(tuned, held_out, tmp_path, monkeypatch):
    from engine.anystyle.sheet import LibraryStyle, make_sheet

    (tmp_path / "models").mkdir()
    shutil.copy(tuned, tmp_path / "models" / "starry_night.safetensors")  # named like the painting's file
    monkeypatch.setenv("NST_MODELS_DIR", str(tmp_path / "models"))
    styles = [LibraryStyle("starry_night", "The Starry Night", STYLES / "starry_night.jpg"),
              LibraryStyle("woman_with_hat", "Woman with a Hat", STYLES / "woman_with_hat.jpg")]
    sheet = make_sheet(held_out, styles, size_px=128, device="cpu", cache_dir=None)
    tiles = [sheet.image[t.y:t.y + t.height, t.x:t.x + t.width] for t in sheet.tiles]
    expected = stylize_fast(held_out, str(tuned), device="cpu", size_px=128).image
    assert np.abs(tiles[0] - expected).max() <= 1 / 255  # the tuned model, not any-style
    untuned = get_any_stylizer("cpu", cache_dir=None).stylize(held_out, read_rgb(STYLES / "woman_with_hat.jpg"),
                                                              size_px=128).image
    assert np.abs(tiles[1] - untuned).max() <= 1 / 255  # no tuned model: any-style
