"""Large images: fine scales as feathered tiles sharing one set of style targets, sized by a memory budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import draw_content

from engine.measures.metrics import style_distance
from engine.optimizer.tiling import MIN_TILE_PX, OVERLAP_PX, feather, tile_boxes
from engine.runtime.errors import EngineError


def seam_ratio(image: np.ndarray, boxes, overlap_px: int = OVERLAP_PX) -> float:
    """Mean colour step across the lines where tiles' feathered overlaps begin and end, over the mean step elsewhere.

    About 1 when tiles blend invisibly; well above 1 where a tile border shows.
    """
    height, width = image.shape[:2]
    dx = np.abs(np.diff(image.astype(np.float64), axis=1)).sum(-1)  # between columns c and c + 1
    dy = np.abs(np.diff(image.astype(np.float64), axis=0)).sum(-1)
    cols = {c for b in boxes for c in (b.x - 1, b.x + overlap_px - 1, b.x + b.width - overlap_px - 1,
                                       b.x + b.width - 1)} & set(range(width - 1))
    rows = {r for b in boxes for r in (b.y - 1, b.y + overlap_px - 1, b.y + b.height - overlap_px - 1,
                                       b.y + b.height - 1)} & set(range(height - 1))
    cols = sorted(c for c in cols if 0 < c < width - 2)
    rows = sorted(r for r in rows if 0 < r < height - 2)
    seam = np.concatenate([dx[:, cols].ravel(), dy[rows, :].ravel()]).mean()
    inside = np.concatenate([np.delete(dx, cols, axis=1).ravel(), np.delete(dy, rows, axis=0).ravel()]).mean()
    return float(seam / inside)


def test_tiles_cover_the_image_and_their_weights_blend_to_one_everywhere():
    height, width = 288, 384
    boxes = tile_boxes(height, width, 160)
    assert len(boxes) == 6 and all(b.height == b.width == 160 for b in boxes)
    assert [b.x for b in boxes[:3]] == [0, 112, 224]  # evenly spaced: every overlap is 48 px
    total = torch.zeros(1, 1, height, width)
    for box in boxes:
        weight = feather(box, height, width)
        assert weight.min() > 0
        total[..., box.y:box.y + box.height, box.x:box.x + box.width] += weight
    assert total.min() > 0.01  # every pixel is covered; normalising by the total blends without gaps
    corner = feather(boxes[0], height, width)[0, 0]
    assert corner[0, 0] == 1 and corner[-1, -1] < 0.05  # full weight at the image border, ramps toward others


def test_tiled_fine_scale_is_seamless_and_as_stylized_as_untiled(engine, one_torch_thread, starry):
    content = draw_content(256, 192)
    options = dict(size_px=256, scales=2, iterations=20, seed=0)
    whole = engine.stylize(content, [starry], **options)
    misses = engine.cache.misses
    tiled = engine.stylize(content, [starry], tile_px=192, **options)
    assert whole.settings["tiles_px"] == [None, None]
    assert tiled.settings["tiles_px"] == [None, 192]  # the 128 px coarse scale runs whole, the 256 px scale tiled
    assert engine.cache.misses - misses <= 2  # one style target per scale (none if cached), shared by all tiles
    boxes = tile_boxes(192, 256, 192)
    assert len(boxes) == 2
    assert seam_ratio(tiled.image, boxes) < 1.15 * seam_ratio(whole.image, boxes)
    assert seam_ratio(tiled.image, boxes) < 1.25
    before = style_distance(content, starry, 256)
    untiled, with_tiles = style_distance(whole.image, starry, 256), style_distance(tiled.image, starry, 256)
    assert with_tiles < 0.5 * before
    assert with_tiles < 1.15 * untiled, (untiled, with_tiles)


def test_tile_size_shrinks_with_the_memory_budget_and_the_peak_stays_under_it(engine, one_torch_thread, starry):
    content = draw_content(384, 288)
    tiles, peaks = [], []
    for budget_gb in (1.0, 0.2, 0.15):
        result = engine.stylize(content, [starry], size_px=384, scales=2, iterations=1, memory_budget_gb=budget_gb)
        tiles.append(result.settings["tiles_px"][-1])
        peaks.append(result.settings["peak_memory_gb"])
        assert result.settings["peak_memory_gb"] <= budget_gb
        assert result.settings["peak_memory_measured"] is False  # on the CPU the peak is the engine's estimate
    assert tiles[0] is None  # a generous budget: no tiles
    assert MIN_TILE_PX <= tiles[2] < tiles[1] < 384, tiles
    assert peaks[2] < peaks[1] < peaks[0]


def test_a_budget_too_small_for_the_smallest_tile_names_the_fix(engine, starry):
    with pytest.raises(EngineError, match="too small for this job.*larger --memory-budget"):
        engine.stylize(draw_content(384, 288), [starry], size_px=384, scales=1, iterations=1, memory_budget_gb=0.05)


def test_tile_size_below_the_minimum_is_refused(engine, content, starry):
    with pytest.raises(EngineError, match=f"at least {MIN_TILE_PX} px"):
        engine.stylize(content, [starry], size_px=64, iterations=1, tile_px=64)
