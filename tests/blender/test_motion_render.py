"""Motion vectors from real Blender renders: their direction and size, and occlusion around a crossing occluder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from blender_kit import render_top_down

from engine.imageio.images import read_rgb
from engine.imageio.passes import read_passes
from engine.shots.flow import motion_from_passes, warp


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    return render_top_down(tmp_path_factory.mktemp("moving"), frames=3)


@pytest.fixture(scope="module")
def occluded(tmp_path_factory):
    return render_top_down(tmp_path_factory.mktemp("occluded"), frames=2, occluder=True, object_step_px=(4, 0))


def test_vector_pass_convention_on_a_known_motion(moving):
    """The square moves 10 px right and 5 px up a frame: X, Y = -10, -5 and Z, W = -10, -5 (Blender's y is up)."""
    passes = read_passes(moving[1][1])
    inside = passes.object_index == 3
    assert inside.sum() > 150
    np.testing.assert_allclose(np.median(passes.vector[inside], axis=0), [-10, -5, -10, -5], atol=0.05)


def test_warping_the_previous_render_lands_on_the_current_one(moving):
    before, after = read_passes(moving[0][1]), read_passes(moving[1][1])
    motion = motion_from_passes(after, before)
    previous, current = read_rgb(moving[0][0]), read_rgb(moving[1][0])
    trusted = motion.reliable > 0
    assert np.abs(warp(previous, motion.flow) - current)[trusted].mean() < 0.01
    wrong_way = warp(previous, -motion.flow)  # the opposite convention would put the square elsewhere
    square = (after.object_index == 3) & trusted
    assert np.abs(wrong_way - current)[square].mean() > 0.2


def test_occlusion_mask_around_a_rendered_occluder(occluded):
    before, after = read_passes(occluded[0][1]), read_passes(occluded[1][1])
    motion = motion_from_passes(after, before)
    height, width = after.object_index.shape
    rows, cols = np.mgrid[0:height, 0:width]
    source_rows = np.clip(np.rint(rows + motion.flow[..., 1]).astype(int), 0, height - 1)
    source_cols = np.clip(np.rint(cols + motion.flow[..., 0]).astype(int), 0, width - 1)
    hidden_before = before.object_index[source_rows, source_cols] == 5  # the occluder covered it last frame
    disoccluded = (after.object_index == 3) & hidden_before
    assert disoccluded.sum() >= 20, "the scene must uncover part of the object"
    assert motion.reliable[disoccluded].mean() < 0.05
    same_object = (after.object_index == 3) & (before.object_index[source_rows, source_cols] == 3)
    interior = cv2.erode(same_object.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # away from motion edges
    assert interior.sum() >= 20
    assert motion.reliable[interior].min() == 1


def test_cryptomatte_gives_soft_object_masks_that_agree_with_the_object_index(tmp_path):
    pairs = render_top_down(tmp_path, frames=1, samples=16, cryptomatte=True)
    passes = read_passes(pairs[0][1])
    coverage = passes.object_coverage()
    assert coverage.shape == (4, 48, 64)  # pass indices 0 (world), 1 (floor), 3 (object)
    np.testing.assert_allclose(coverage.sum(0), 1.0, atol=0.02)
    square = coverage[3]
    assert ((square > 0.05) & (square < 0.95)).sum() >= 10  # anti-aliased edge pixels
    solid = cv2.erode((passes.object_index == 3).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert square[solid].min() > 0.95
