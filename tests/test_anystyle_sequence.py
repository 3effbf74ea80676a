"""Any-style across frames and sizes: `sequence --model any` on a short rendered shot blends with the warped
previous frame; a frame's strokes keep their size relative to the frame at any resolution."""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.imageio import read_rgb
from engine.metrics import warping_errors
from engine.temporal import SequenceFrame, frame_motion

from support import STYLES, draw_content
from support_render import render_sequence


def test_any_style_shot_flickers_less_with_temporal_blending(tmp_path, capsys):
    from engine.cli import main

    pairs = render_sequence(tmp_path / "render", frames=4, width=96, height=64, occluder=True)
    errors, outputs = {}, {}
    for name, extra in (("frame_by_frame", ["--no-temporal"]), ("temporal", [])):
        out = tmp_path / name
        out.mkdir()
        assert main(["sequence", "--model", "any", "--style", str(STYLES / "starry_night.jpg"),
                     "--frames", str(tmp_path / "render" / "*.png"), "--passes", str(tmp_path / "render"),
                     "--output-dir", str(out), "--device", "cpu", "--quiet", "--no-cache", *extra]) == 0
        frames = [SequenceFrame(png, out / png.name, exr) for png, exr in pairs]
        outputs[name] = [read_rgb(f.output) for f in frames]
        motions = [frame_motion(b, a, None, None, "vectors", {}) for a, b in zip(frames, frames[1:])]
        errors[name] = float(np.mean(warping_errors(outputs[name], motions)))
    assert "wrote 4 frame(s)" in capsys.readouterr().out
    assert outputs["temporal"][0].shape == (64, 96, 3)
    assert np.array_equal(outputs["temporal"][0], outputs["frame_by_frame"][0])  # nothing earlier to blend with
    assert np.abs(outputs["temporal"][0] - read_rgb(pairs[0][0])).mean() > 0.05  # painted, not the render
    assert errors["temporal"] < 0.6 * errors["frame_by_frame"], errors


def test_any_style_shot_without_a_painting_is_refused(tmp_path, capsys):
    from engine.cli import main

    render = tmp_path / "render"
    render.mkdir()
    (tmp_path / "out").mkdir()
    Image.new("RGB", (40, 32), (120, 90, 60)).save(render / "frame_0001.png")
    assert main(["sequence", "--model", "any", "--frames", str(render), "--output-dir", str(tmp_path / "out"),
                 "--device", "cpu", "--quiet"]) == 2
    assert "--style" in capsys.readouterr().err and not any((tmp_path / "out").iterdir())


def test_strokes_keep_their_size_relative_to_the_frame(starry):
    import cv2

    from engine.anystyle import get_any_stylizer

    stylizer = get_any_stylizer("cpu", None)
    stroke_px = 128  # the default is 384; the same at a test's size
    small, large = draw_content(stroke_px, stroke_px * 3 // 4), draw_content(3 * stroke_px, stroke_px * 9 // 4)

    def shrunk(image):
        return cv2.resize(image, (stroke_px, stroke_px * 3 // 4), interpolation=cv2.INTER_AREA)

    reference = stylizer.stylize(small, starry, stroke_px=stroke_px).image
    laid = stylizer.stylize(large, starry, stroke_px=stroke_px)
    full_size_only = shrunk(stylizer.stylize(large, starry, stroke_px=None).image)
    assert laid.settings["stroke_px"] == stroke_px and laid.image.shape == large.shape
    assert np.abs(shrunk(laid.image) - reference).mean() < 0.8 * np.abs(full_size_only - reference).mean()
