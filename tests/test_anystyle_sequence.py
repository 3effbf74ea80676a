"""Any-style across frames and sizes: `sequence --model any` without a painting is refused; a frame's strokes keep
their size relative to the frame at any resolution. A real rendered shot: tests/blender/test_anystyle_shot.py."""

from __future__ import annotations

import numpy as np
from PIL import Image

from support import draw_content


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
