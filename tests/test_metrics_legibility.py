"""engine.measures.metrics: boundary contrast kept (legibility) on drawn images, and the flicker mask's share of pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.imageio.passes import RenderPasses
from engine.measures.metrics import boundary_contrast, contrast_kept, measured_shares, standard_motion, warping_errors
from engine.runtime.errors import EngineError
from engine.shapes.structure import StructurePasses


def _scene(height: int = 64, width: int = 96):
    """A blue wall (depth 20, index 0) with a red box in front (depth 5, index 1), both with a faint texture."""
    index = np.zeros((height, width), np.int64)
    index[16:48, 24:72] = 1
    depth = np.where(index > 0, 5.0, 20.0).astype(np.float32)
    render = np.where(index[..., None] > 0, [0.8, 0.3, 0.2], [0.3, 0.4, 0.6]).astype(np.float32)
    return StructurePasses(None, depth, index), _textured(render, 0.01, seed=1)


def _textured(image: np.ndarray, amount: float, seed: int = 0) -> np.ndarray:
    """A brush-like texture over every surface (a faint one is a render's shading, a strong one a painting's)."""
    noise = np.random.default_rng(seed).normal(0, amount, image.shape).astype(np.float32)
    return np.clip(image + cv2.GaussianBlur(noise, (0, 0), 1.0) * 3, 0, 1)


def _painted(render: np.ndarray) -> np.ndarray:
    return _textured(render, 0.08)


def test_render_keeps_all_its_contrast_and_boundaries_are_stronger_than_surfaces():
    passes, render = _scene()
    assert contrast_kept(render, render, passes) == pytest.approx(1.0)
    assert boundary_contrast(_painted(render), passes) > 3.0


def test_a_result_that_keeps_edges_scores_higher_than_one_that_blurs_them():
    passes, render = _scene()
    sharp = _painted(render)
    strokes = sharp - render  # the same brush texture on top of a render whose shapes are blurred
    soft, blurred = (np.clip(cv2.GaussianBlur(render, (0, 0), sigma) + strokes, 0, 1) for sigma in (1.0, 3.0))
    kept = [contrast_kept(image, render, passes) for image in (sharp, soft, blurred)]
    assert kept[0] > kept[1] > kept[2]
    assert kept[0] < 0.5  # the brush texture on the surfaces costs legibility, as in real results


def test_passes_are_resized_to_the_stylized_image_and_depth_alone_finds_the_box():
    passes, render = _scene()
    depth_only = StructurePasses(None, passes.depth)
    small = cv2.resize(_painted(render), (48, 32), interpolation=cv2.INTER_AREA)
    assert contrast_kept(small, render, depth_only) == pytest.approx(contrast_kept(small, render, passes), rel=0.05)


def test_a_frame_without_boundaries_is_refused():
    passes = StructurePasses(None, np.full((32, 32), 5.0, np.float32))
    with pytest.raises(EngineError, match="no boundaries"):
        boundary_contrast(np.zeros((32, 32, 3), np.float32), passes)


def _frame(index: np.ndarray, vector: np.ndarray) -> RenderPasses:
    return RenderPasses(None, None, vector, np.full(index.shape, 5.0, np.float32), index, None)


def test_standard_mask_measures_disocclusions_the_engine_mask_leaves_out():
    """Still camera, and an object that is replaced by another at the same place (ids differ, vectors agree):
    Ruder's mask measures those pixels, the engine's id test drops them; shares say so."""
    from engine.shots.flow import motion_from_passes

    index_before, index_now = np.zeros((40, 40), np.int64), np.zeros((40, 40), np.int64)
    index_before[10:20, 10:20], index_now[10:20, 10:20] = 1, 2
    still = np.zeros((40, 40, 4), np.float32)
    before, now = _frame(index_before, still), _frame(index_now, still)
    frames = [np.zeros((40, 40, 3), np.float32), np.zeros((40, 40, 3), np.float32)]
    frames[1][10:20, 10:20] = 1.0  # the new object flickers in
    standard, engine = standard_motion(now, before), motion_from_passes(now, before)
    assert measured_shares(frames, [standard]) == [1.0]
    assert measured_shares(frames, [engine])[0] == pytest.approx(1 - 100 / 1600)
    assert warping_errors(frames, [standard])[0] > 0 == warping_errors(frames, [engine])[0]
