"""Training fast models: a few steps lower the loss, checkpoints resume exactly, per-shot models learn guides."""

from __future__ import annotations

import numpy as np
import OpenEXR
import pytest
import torch
from PIL import Image
from support import STYLES, draw_content

from engine.cli import main
from engine.fast.stylize_fast import stylize_fast
from engine.fast.model_file import load_model, read_model_info
from engine.fast.train import TrainSettings, checkpoint_path, train_shot, train_style
from engine.runtime.errors import EngineError

STARRY = STYLES / "starry_night.jpg"
TINY = dict(batch_size=1, crop_px=48, style_size_px=96, learning_rate=5e-3)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def content_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("content")
    for index, (width, height) in enumerate([(64, 64), (72, 56)]):
        Image.fromarray((draw_content(width, height) * 255).astype(np.uint8)).save(folder / f"c{index}.png")
    return folder


def test_a_few_steps_lower_the_loss(tmp_path, content_dir):
    losses = []
    info = train_style(STARRY, [content_dir], tmp_path / "m.safetensors", TrainSettings(steps=12, **TINY),
                       device="cpu", checkpoint_every=0, callback=lambda p: losses.append(p.loss))
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    assert info.training["steps"] == 12 and info.training["device"] == "cpu"
    assert info.loss_network["source"] == "caffe" and info.style["file"] == "starry_night.jpg"
    assert read_model_info(tmp_path / "m.safetensors") == info


def test_resume_continues_exactly_where_the_checkpoint_left_off(tmp_path, content_dir):
    straight, resumed = tmp_path / "straight.safetensors", tmp_path / "resumed.safetensors"
    train_style(STARRY, [content_dir], straight, TrainSettings(steps=4, **TINY), device="cpu", checkpoint_every=0)
    train_style(STARRY, [content_dir], resumed, TrainSettings(steps=2, **TINY), device="cpu", checkpoint_every=2)
    assert checkpoint_path(resumed).is_file()
    steps = []
    train_style(STARRY, [content_dir], resumed, TrainSettings(steps=4, **TINY), device="cpu", checkpoint_every=2,
                resume=True, callback=lambda p: steps.append(p.step))
    assert steps == [3, 4]
    a, b = load_model(straight)[0].state_dict(), load_model(resumed)[0].state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(EngineError, match="other settings"):
        train_style(STARRY, [content_dir], resumed, TrainSettings(steps=6, **{**TINY, "crop_px": 40}),
                    device="cpu", resume=True)


def test_train_command_writes_a_model_and_bad_input_is_one_line(tmp_path, content_dir, capsys):
    output = tmp_path / "cli.safetensors"
    code = main(["train", "--style", str(STARRY), "--content-dir", str(content_dir), "--output", str(output),
                 "--steps", "2", "--batch-size", "1", "--crop", "48", "--checkpoint-every", "1", "--device", "cpu"])
    assert code == 0
    assert "python -m engine train" in read_model_info(output).training["command"]
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["train", "--style", str(STARRY), "--content-dir", str(empty), "--output", str(tmp_path / "x.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: no images")
    assert not (tmp_path / "x.safetensors").exists()


def _write_render(path, rgb: np.ndarray, normal: np.ndarray) -> None:
    """A multilayer-EXR render with Combined and Normal passes, named as Blender names them."""
    channels = {f"ViewLayer.Combined.{c}": np.ascontiguousarray(rgb[..., i] ** 2.2) for i, c in enumerate("RGB")}
    channels.update({f"ViewLayer.Normal.{c}": np.ascontiguousarray(normal[..., i]) for i, c in enumerate("XYZ")})
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {k: v.astype(np.float32) for k, v in channels.items()}).write(str(path))


def test_per_shot_training_learns_keyframes_with_render_pass_guides(tmp_path):
    shot = tmp_path / "shot"
    shot.mkdir()
    for frame in range(3):
        rgb = np.roll(draw_content(64, 48), 4 * frame, axis=1)
        normal = np.zeros((48, 64, 3), np.float32)
        normal[..., 0] = np.linspace(-1, 1, 64)[None]
        normal[..., 2] = 1
        _write_render(shot / f"frame_{frame:04d}.exr", rgb, np.roll(normal, 4 * frame, axis=1))
    settings = TrainSettings(steps=3, keyframes=2, guides=("Normal",), keyframe_size_px=64, keyframe_iterations=2,
                             **TINY)
    phases = []
    info = train_shot(STARRY, shot, tmp_path / "shot.safetensors", settings, device="cpu", checkpoint_every=0,
                      callback=lambda p: phases.append(p.phase))
    assert phases == ["keyframes"] * 2 + ["training"] * 3
    assert info.kind == "shot" and info.training["keyframe_files"] == ["frame_0000.exr", "frame_0002.exr"]
    assert info.guide_channels == ["ViewLayer.Normal.X", "ViewLayer.Normal.Y", "ViewLayer.Normal.Z"]
    assert info.guide_ranges[0] == [-1.0, 1.0]
    frame = shot / "frame_0001.exr"
    result = stylize_fast(draw_content(64, 48), tmp_path / "shot.safetensors", render_path=frame, device="cpu")
    assert result.image.shape == (48, 64, 3) and result.settings["model_kind"] == "shot"
    with pytest.raises(EngineError, match="render-pass guides"):
        stylize_fast(draw_content(64, 48), tmp_path / "shot.safetensors", device="cpu")
