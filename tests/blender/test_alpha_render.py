"""Film > Transparent in the real Blender: Stylize Render and the batch entry keep the render's alpha, so the
stylized frames composite over any background (issue 13, part 3).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from blender_kit import REPO, SIZE, STYLES, pixels, styleless_shot

RESULT = "NST Stylized Render"


def _engine_image(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    from engine.imageio.images import read_image

    return read_image(path)


def test_stylize_render_of_a_transparent_film_keeps_its_alpha(tiny_scene):
    tiny_scene.render.film_transparent = True  # the sky (upper part of the frame) renders transparent
    assert bpy.ops.nst.stylize_render() == {"FINISHED"}
    result = bpy.data.images[RESULT]
    assert tuple(result.size) == SIZE
    content = Path(result["nst_content"])
    render_rgb, render_alpha = _engine_image(content)
    assert render_alpha is not None, "the display PNG sent to the engine must carry the render's alpha"
    transparent, covered = render_alpha == 0, render_alpha > 0.99
    assert transparent.sum() > 200 and covered.sum() > 200, "the frame should be part sky, part scene"
    stylized_rgb, stylized_alpha = _engine_image(Path(result.filepath_raw))
    assert stylized_alpha is not None and np.abs(stylized_alpha - render_alpha).max() <= 1 / 255
    in_blender = pixels(result)[::-1]  # rows top to bottom, as the files
    assert np.abs(in_blender[..., 3] - render_alpha).max() <= 1 / 255, "the image in Blender has the alpha too"
    assert (in_blender[transparent] == 0).all(), "transparent pixels stay transparent, with no colour"
    assert np.abs(stylized_rgb - render_rgb)[covered].mean() > 0.02, "the scene is stylized"


@pytest.fixture
def transparent_blend(addon, tmp_path) -> Path:
    return styleless_shot(tmp_path / "transparent.blend", frames=2, transparent=True)


def test_batch_entry_writes_stylized_frames_with_the_renders_alpha(transparent_blend, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "nst_addon.batch", str(transparent_blend), "--style",
                           str(STYLES / "starry_night.jpg"), "--frames", "1-2", "--output", str(out), "--size", "64",
                           "--iterations", "4"], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    for frame in (1, 2):
        render_rgb, render_alpha = _engine_image(out / "render" / f"frame_{frame:04d}.png")
        rgb, alpha = _engine_image(out / "stylized" / f"frame_{frame:04d}.png")
        assert render_alpha is not None and alpha is not None, "render and stylized frames carry alpha"
        assert np.abs(alpha - render_alpha).max() <= 1 / 255
        transparent = render_alpha == 0
        assert transparent.sum() > 200 and (rgb[transparent] == 0).all()
