"""engine.shapes.structure: boundaries from Depth, Object Index and Normal; bad passes refused; the term keeps shapes."""

from __future__ import annotations

import numpy as np
import OpenEXR
import pytest

from engine.measures.metrics import contrast_kept
from engine.runtime.errors import EngineError
from engine.shapes.structure import StructurePasses, edge_map, read_structure_passes, structure_map


def _write_exr(path, **channels) -> None:
    OpenEXR.File({"type": OpenEXR.scanlineimage},
                 {f"ViewLayer.{k}": np.ascontiguousarray(v, np.float32) for k, v in channels.items()}).write(str(path))


def test_boundaries_come_from_index_relative_depth_jumps_and_creases():
    index = np.zeros((20, 30), np.int64)
    index[:, 20:] = 2
    depth = np.full((20, 30), 10.0, np.float32)
    depth[:, :10] = 10.5  # 5%: a slope, not a jump
    depth[:10, 10:20] = 30.0  # a jump
    normal = np.zeros((20, 30, 3), np.float32)
    normal[..., 2] = 1.0
    normal[15:, 10:20] = (1.0, 0.0, 0.0)  # a 90 degree crease
    edges = edge_map(StructurePasses(None, depth, index, normal))
    assert edges[:, 19:21].all()  # object change
    assert edges[9:11, 10:20].all()  # depth jump
    assert edges[14:16, 10:19].all()  # crease
    assert not edges[11:14, 8:12].any() and not edges[3:7, 2:8].any()  # gentle slope, flat surface
    assert edge_map(StructurePasses(None, depth)).sum() < edges.sum()  # without ids and normals, fewer


def test_structure_map_scales_with_strength_takes_object_overrides_and_is_off_at_zero():
    index = np.zeros((20, 40), np.int64)
    index[5:15, 5:15], index[5:15, 25:35] = 1, 2
    passes = StructurePasses(None, np.full((20, 40), 10.0, np.float32), index)
    assert structure_map(passes, 0.0) is None
    half = structure_map(passes, 0.5)
    assert half.max() == pytest.approx(0.5) and half[10, 10] == 0
    own = structure_map(passes, 0.5, {2: 1.0, 1: 0.0})
    assert own[10, 24:26].max() == pytest.approx(1.0) and own[10, 4:6].max() == pytest.approx(0.5)
    assert own[10, 9:12].max() == 0  # object 1's inside
    with pytest.raises(EngineError, match="between 0 and 1"):
        structure_map(passes, 1.5)
    with pytest.raises(EngineError, match="Object Index"):
        structure_map(StructurePasses(None, passes.depth), 0.5, {1: 1.0})


def test_passes_without_depth_or_of_another_size_are_refused_in_one_line(tmp_path):
    index = np.zeros((24, 32), np.float32)
    _write_exr(tmp_path / "nodepth.exr", **{"Object Index.X": index})
    with pytest.raises(EngineError, match="no Depth pass") as error:
        read_structure_passes(tmp_path / "nodepth.exr")
    assert "\n" not in str(error.value)
    _write_exr(tmp_path / "ok.exr", **{"Depth.Z": index + 5, "Object Index.X": index,
                                       **{f"Normal.{c}": index for c in "XYZ"}})
    with pytest.raises(EngineError, match="32x24 px but the picture is 64x48"):
        read_structure_passes(tmp_path / "ok.exr", (48, 64))
    passes = read_structure_passes(tmp_path / "ok.exr", (24, 32))
    assert passes.normal.shape == (24, 32, 3) and passes.object_index.dtype == np.int64


def test_contrast_kept_rises_with_structure(engine, starry, tmp_path, one_torch_thread):
    from support import write_synthetic_sequence

    from engine.imageio.images import read_rgb

    png, exr = write_synthetic_sequence(tmp_path, frames=1, height=64, width=96)[0]
    render = read_rgb(png)
    passes = read_structure_passes(exr, render.shape[:2])
    kept = []
    for strength in (0.0, 0.5, 1.0):
        result = engine.stylize(render, [starry], size_px=96, iterations=25, scales=1,
                                structure_map=structure_map(passes, strength))
        kept.append(contrast_kept(result.image, render, passes))
        assert result.settings["structure"] == strength
    assert kept[0] < kept[1] < kept[2]
    assert kept[1] > 1.3 * kept[0]


def test_a_fast_result_gets_its_outlines_back_from_the_guide_and_keeps_its_strokes():
    """The post-pass for fast networks (no VGG): a painting whose strokes blur the render's outlines reads again."""
    import cv2

    from engine.shapes.guide import restore_boundaries

    index = np.zeros((48, 64), np.int64)
    index[12:36, 16:48] = 1
    passes = StructurePasses(None, np.where(index > 0, 5.0, 20.0).astype(np.float32), index)
    render = np.where(index[..., None] > 0, [0.8, 0.3, 0.2], [0.3, 0.4, 0.6]).astype(np.float32)
    strokes = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 0.08, render.shape).astype(np.float32), (0, 0), 1)
    fast = np.clip(cv2.GaussianBlur(render, (0, 0), 2.0) + 3 * strokes, 0, 1)  # outlines melted into the strokes
    guided = restore_boundaries(fast, render, structure_map(passes, 0.5))
    assert contrast_kept(guided, render, passes) > 1.5 * contrast_kept(fast, render, passes)
    surface = edge_map(passes, radius_px=4) == 0
    assert np.abs(guided - fast)[surface].max() < 1e-6  # the strokes away from the outlines are the network's


def test_on_a_tracked_frame_the_structure_term_holds_the_earlier_result_s_steps():
    """In a shot, the term's targets are the earlier result's (already raised) steps warped onto this frame: an image
    equal to a strongly stepped earlier result costs nothing, while the render raised again would; pairs the motion
    mask does not keep count less."""
    import torch

    from engine.optimizer.losses import structure_distance

    generator = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 16, 16, generator=generator)
    earlier = 10 * torch.rand(1, 3, 16, 16, generator=generator)  # steps above the render's raised ones
    weights = torch.zeros(16, 16)
    weights[:, 6:10] = 0.5
    reliable = torch.ones(1, 16, 16)
    assert float(structure_distance(earlier, content, weights, 3.0, (earlier, reliable))) == pytest.approx(0, abs=1e-9)
    assert float(structure_distance(earlier, content, weights, 3.0)) > 0.1
    all_tracked = float(structure_distance(content, content, weights, 3.0, (earlier, reliable)))
    reliable[:, :, 8:] = 0
    assert float(structure_distance(earlier, content, weights, 3.0, (earlier, reliable))) == pytest.approx(0, abs=1e-9)
    assert 0 < float(structure_distance(content, content, weights, 3.0, (earlier, reliable))) < all_tracked


def test_faded_earlier_steps_are_raised_back_so_shapes_do_not_fade_frame_by_frame():
    """Issue 20: held to its earlier steps alone, each frame of a shot kept a little less than the last. Steps
    weaker than the render's raised ones are raised as one (at most HELD_RAISE_MAX), so the faded earlier result
    itself is not the term's minimum, and the same pattern raised is."""
    import torch

    from engine.optimizer.losses import HELD_RAISE_MAX, structure_distance

    generator = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 16, 16, generator=generator)
    faded = 0.5 + 0.1 * (content - 0.5)  # the render's pattern with a tenth of its steps
    weights = torch.zeros(16, 16)
    weights[:, 6:10] = 0.5
    tracked = (faded, torch.ones(1, 16, 16))
    as_it_was = float(structure_distance(faded, content, weights, 3.0, tracked))
    raised = float(structure_distance(0.5 + HELD_RAISE_MAX * (faded - 0.5), content, weights, 3.0, tracked))
    assert as_it_was > 0.01
    assert raised == pytest.approx(0, abs=1e-9)


def test_a_shot_with_structure_keeps_more_contrast_and_its_flicker_stays_bounded(engine, starry, tmp_path,
                                                                                 one_torch_thread):
    """Temporal stylization of a small moving shot: structure raises the contrast kept, and the flicker stays
    bounded. Issue 15's 1.1x holds on the rendered shots at 96 and 192 px (docs/structure.md), not necessarily on
    this 64x48 one (the boundary band is a large share of the frame), so this only guards against regressions."""
    from support import write_synthetic_sequence

    from engine.imageio.images import read_rgb
    from engine.imageio.passes import read_passes
    from engine.measures.metrics import standard_motion, warping_errors
    from engine.shots.temporal import SequenceFrame, SequenceSettings, stylize_sequence

    pairs = write_synthetic_sequence(tmp_path / "render", frames=4, height=48, width=64)
    passes = [read_passes(exr) for _, exr in pairs]
    motions = [standard_motion(now, before) for before, now in zip(passes, passes[1:])]
    renders = [read_rgb(png) for png, _ in pairs]
    structures = [read_structure_passes(exr, render.shape[:2]) for (_, exr), render in zip(pairs, renders)]
    flicker, kept = [], []
    for strength in (0.0, 0.5):
        (tmp_path / f"s{strength}").mkdir()
        frames = [SequenceFrame(png, tmp_path / f"s{strength}" / png.name, exr) for png, exr in pairs]
        stylize_sequence(engine, frames, [starry], SequenceSettings(
            structure=strength, stylize_options=dict(size_px=64, iterations=20, scales=1)))
        images = [read_rgb(frame.output) for frame in frames]
        flicker.append(np.mean(warping_errors(images, motions)))
        kept.append(np.mean([contrast_kept(i, r, s) for i, r, s in zip(images, renders, structures)]))
    assert kept[1] > 1.2 * kept[0], kept
    assert flicker[1] < 2.5 * flicker[0], flicker
