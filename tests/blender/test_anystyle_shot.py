"""Any-style on a short shot rendered by the real Blender: `sequence --model any` blends each frame with the warped
previous one, so the shot flickers less than frame by frame."""

from __future__ import annotations

import numpy as np
from blender_kit import render_top_down
from support import STYLES

from engine.cli import main
from engine.imageio.images import read_rgb
from engine.measures.metrics import warping_errors
from engine.shots.temporal import SequenceFrame, frame_motion


def test_any_style_shot_flickers_less_with_temporal_blending(tmp_path, capsys):
    pairs = render_top_down(tmp_path / "render", frames=4, width=96, height=64, occluder=True)
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
