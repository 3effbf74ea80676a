"""Temporal consistency on synthetic sequences: warping, reliability, flicker, resume, bad sequences."""

from __future__ import annotations

import numpy as np
import pytest
from support import STYLES, write_synthetic_sequence

from engine.imageio.images import read_rgb
from engine.imageio.passes import read_passes
from engine.measures.metrics import style_distance, warping_errors
from engine.optimizer.masks import Region
from engine.runtime.errors import Cancelled, EngineError
from engine.shots.flow import estimated_motion, motion_from_passes, warp
from engine.shots.temporal import SequenceFrame, SequenceSettings, frame_motion, stylize_sequence

QUICK = dict(size_px=64, iterations=30, scales=1)


def frames_in(folder, out):
    return [SequenceFrame(png, out / png.name, exr) for png, exr in sorted(zip(sorted(folder.glob("*.png")),
                                                                            sorted(folder.glob("*.exr"))))]


def test_vectors_warp_the_previous_frame_onto_this_one(tmp_path):
    pairs = write_synthetic_sequence(tmp_path, frames=2)
    before, after = read_passes(pairs[0][1]), read_passes(pairs[1][1])
    motion = motion_from_passes(after, before)
    previous, current = read_rgb(pairs[0][0]), read_rgb(pairs[1][0])
    warped = warp(previous, motion.flow)
    square = after.object_index == 1
    interior = square & (motion.reliable > 0)
    assert interior.sum() > 100
    assert np.abs(warped - current)[interior].max() < 0.01  # the square lands exactly where it now is
    assert np.abs(previous - current)[square].mean() > 0.05  # and without warping it would not


def test_reliability_marks_disoccluded_background_unreliable(tmp_path):
    pairs = write_synthetic_sequence(tmp_path, frames=2, step_px=(4, 0))
    before, after = read_passes(pairs[0][1]), read_passes(pairs[1][1])
    motion = motion_from_passes(after, before)
    uncovered = (before.object_index == 1) & (after.object_index == 0)  # background the square just left
    assert uncovered.sum() > 30
    assert motion.reliable[uncovered].max() == 0
    static_far = np.zeros_like(uncovered)
    static_far[:, 50:] = True
    assert motion.reliable[static_far & (after.object_index == 0)].min() == 1


def test_estimated_flow_recovers_the_motion_roughly(tmp_path):
    pairs = write_synthetic_sequence(tmp_path, frames=2, step_px=(3, 2))
    motion = estimated_motion(read_rgb(pairs[1][0]), read_rgb(pairs[0][0]))
    square = read_passes(pairs[1][1]).object_index == 1
    assert motion.source.startswith("estimated")
    assert np.abs(np.median(motion.flow[square], axis=0) - np.array([-3, -2])).max() < 1.0


def test_temporal_stylization_cuts_flicker(tmp_path, engine, starry):
    write_synthetic_sequence(tmp_path / "in", frames=4)
    errors, styles = {}, {}
    for name, temporal in (("frame_by_frame", False), ("temporal", True)):
        frames = frames_in(tmp_path / "in", tmp_path / name)
        (tmp_path / name).mkdir()
        settings = SequenceSettings(temporal=temporal, stylize_options=dict(QUICK), temporal_weight=50)
        stylize_sequence(engine, frames, [starry], settings)
        results = [read_rgb(f.output) for f in frames]
        motions = [frame_motion(b, a, None, None, "vectors", {}) for a, b in zip(frames, frames[1:])]
        errors[name] = np.mean(warping_errors(results, motions))
        styles[name] = [style_distance(r, starry, 64) for r in results]
    assert errors["temporal"] <= 0.4 * errors["frame_by_frame"], errors
    for temporal_style, single_style in zip(styles["temporal"], styles["frame_by_frame"]):
        assert temporal_style <= 1.2 * single_style


def test_multipass_refines_every_frame_but_the_last_and_keeps_flicker_low(tmp_path, engine, starry):
    from engine.imageio.images import read_settings

    write_synthetic_sequence(tmp_path / "in", frames=3)
    (tmp_path / "out").mkdir()
    frames = frames_in(tmp_path / "in", tmp_path / "out")
    stylize_sequence(engine, frames, [starry], SequenceSettings(multipass=True, stylize_options=dict(QUICK)))
    assert [bool(read_settings(f.output).get("multipass")) for f in frames] == [True, True, False]
    results = [read_rgb(f.output) for f in frames]
    motions = [frame_motion(b, a, None, None, "vectors", {}) for a, b in zip(frames, frames[1:])]
    assert np.mean(warping_errors(results, motions)) < 0.01


def test_an_interrupted_sequence_resumes_to_the_same_frames(tmp_path, engine, starry):
    write_synthetic_sequence(tmp_path / "in", frames=4)
    (tmp_path / "full").mkdir()
    (tmp_path / "resumed").mkdir()
    settings = SequenceSettings(stylize_options=dict(QUICK))
    full = frames_in(tmp_path / "in", tmp_path / "full")
    stylize_sequence(engine, full, [starry], settings)

    def stop_in_third_frame(progress):
        if progress.frame == 2 and progress.step is not None and progress.step.iteration == 5:
            raise Cancelled()

    resumed = frames_in(tmp_path / "in", tmp_path / "resumed")
    with pytest.raises(Cancelled):
        stylize_sequence(engine, resumed, [starry], settings, callback=stop_in_third_frame)
    assert [f.output.exists() for f in resumed] == [True, True, False, False]
    report = stylize_sequence(engine, resumed, [starry], settings)
    assert report.skipped == [f.output for f in resumed[:2]]
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(read_rgb(a.output), read_rgb(b.output))


def test_per_object_regions_follow_the_object_index(tmp_path, engine, starry):
    write_synthetic_sequence(tmp_path / "in", frames=3)
    (tmp_path / "out").mkdir()
    frames = frames_in(tmp_path / "in", tmp_path / "out")
    stylize_sequence(engine, frames, [starry], SequenceSettings(stylize_options=dict(QUICK)),
                     regions={1: Region(keep_original=True)})
    for frame in frames:
        square = read_passes(frame.passes).object_index == 1
        np.testing.assert_allclose(read_rgb(frame.output)[square], read_rgb(frame.content)[square], atol=1 / 255)


def test_frames_of_different_sizes_are_refused(tmp_path, engine, starry):
    write_synthetic_sequence(tmp_path / "a", frames=2)
    write_synthetic_sequence(tmp_path / "b", frames=2, height=40)
    (tmp_path / "out").mkdir()
    frames = [SequenceFrame(tmp_path / "a" / "frame_0000.png", tmp_path / "out" / "0.png"),
              SequenceFrame(tmp_path / "b" / "frame_0001.png", tmp_path / "out" / "1.png")]
    with pytest.raises(EngineError, match="every frame of a sequence must have one size"):
        stylize_sequence(engine, frames, [starry], SequenceSettings(stylize_options=dict(QUICK)))


def test_passes_of_another_size_are_refused(tmp_path, engine, starry):
    small = write_synthetic_sequence(tmp_path / "small", frames=1, height=40)
    big = write_synthetic_sequence(tmp_path / "big", frames=1)
    frames = [SequenceFrame(big[0][0], tmp_path / "out.png", small[0][1])]
    with pytest.raises(EngineError, match="give the passes of the same render"):
        stylize_sequence(engine, frames, [starry], SequenceSettings(stylize_options=dict(QUICK)))
    assert not (tmp_path / "out.png").exists()


def test_missing_vector_pass_is_an_error_or_falls_back_to_estimated_flow(tmp_path, engine, starry):
    write_synthetic_sequence(tmp_path / "in", frames=2, with_vectors=False)
    (tmp_path / "out").mkdir()
    frames = frames_in(tmp_path / "in", tmp_path / "out")
    with pytest.raises(EngineError, match="has no Vector pass"):
        stylize_sequence(engine, frames, [starry], SequenceSettings(flow="vectors", stylize_options=dict(QUICK)))
    report = stylize_sequence(engine, frames, [starry], SequenceSettings(flow="auto", overwrite=True,
                                                                        stylize_options=dict(QUICK)))
    assert report.flow_sources == ["none", "estimated (OpenCV DIS)"]


def test_fast_sequences_blend_with_the_warped_previous_frame(tmp_path):
    import torch

    from engine.fast.model_file import ModelInfo, save_model
    from engine.fast.network import TransformerNet

    torch.manual_seed(0)
    model = save_model(tmp_path / "net.safetensors", TransformerNet("small"),
                       ModelInfo("small", {"name": "net"}, {"steps": 0}, {"source": "caffe"}))
    write_synthetic_sequence(tmp_path / "in", frames=4)
    errors = {}
    for name, temporal in (("frame_by_frame", False), ("temporal", True)):
        (tmp_path / name).mkdir()
        frames = frames_in(tmp_path / "in", tmp_path / name)
        report = stylize_sequence(None, frames, [], SequenceSettings(temporal=temporal, model=str(model),
                                                                     stylize_options={"device": "cpu"}))
        assert report.flow_sources == (["none"] * 4 if not temporal else ["none"] + ["render vectors"] * 3)
        results = [read_rgb(f.output) for f in frames]
        motions = [frame_motion(b, a, None, None, "vectors", {}) for a, b in zip(frames, frames[1:])]
        errors[name] = np.mean(warping_errors(results, motions))
    assert errors["temporal"] < 0.7 * errors["frame_by_frame"], errors


def test_sequence_and_metrics_commands(tmp_path, capsys):
    from engine.cli import main

    write_synthetic_sequence(tmp_path / "render", frames=3)
    (tmp_path / "out").mkdir()
    style = str(STYLES / "starry_night.jpg")
    base = ["sequence", "--frames", str(tmp_path / "render" / "*.png"), "--passes", str(tmp_path / "render"),
            "--style", style, "--output-dir", str(tmp_path / "out"), "--size", "48", "--iterations", "4",
            "--scales", "1", "--quiet", "--no-cache"]
    assert main(base) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"frame_000{i}.png" for i in range(3)]
    assert "kept 3 existing" in (main(base), capsys.readouterr().out)[1]  # a rerun resumes, writing nothing
    assert main(["metrics", "--passes", str(tmp_path / "render"), "--sequence", f"temporal={tmp_path / 'out'}",
                 "--plot", str(tmp_path / "plot.png")]) == 0
    table = capsys.readouterr().out
    assert "| temporal | 3 |" in table and (tmp_path / "plot.png").stat().st_size > 1000
    assert main(["metrics", "--passes", str(tmp_path / "render"), "--sequence", f"temporal={tmp_path / 'out'}",
                 "--render", str(tmp_path / "render" / "*.png"), "--curves", str(tmp_path / "curves.png")]) == 0
    curves = capsys.readouterr().out
    assert "per frame, 'temporal'" in curves and "\n| 3 | " in curves and "\n| 1 | " in curves
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert main([*base[:2], str(tmp_path / "nothing" / "*.png"), *base[3:]]) == 2
    assert "no frames found" in capsys.readouterr().err
