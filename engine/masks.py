"""Spatial control: label maps (one region id per pixel, or soft masks) and what each region gets.

A region may take its own styles, its own strength, or keep the original pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import EngineError


@dataclass
class RegionStyle:
    """One region's setting; fields left as None inherit the image-wide setting."""

    styles: Sequence[np.ndarray] | None = None
    style_blend: Sequence[float] | None = None
    strength: float | None = None
    keep_original: bool = False


def region_weight_maps(label_map: np.ndarray, shape: tuple[int, int]) -> dict[int, np.ndarray]:
    """Soft weight map (H x W, float32 in [0, 1]) per region id, checked against the content's size.

    `label_map` is H x W integer ids, or R x H x W soft coverage (region ids 0..R-1; anti-aliased
    edges allowed), which is renormalised where the coverages add up to more than one.
    """
    label_map = np.asarray(label_map)
    map_shape = label_map.shape[-2:]
    if tuple(map_shape) != tuple(shape):
        raise EngineError(f"the mask is {map_shape[1]}x{map_shape[0]} px but the content image is "
                          f"{shape[1]}x{shape[0]} px; make the mask at the content's resolution")
    if label_map.ndim == 2:
        if not np.issubdtype(label_map.dtype, np.integer):
            if not np.isfinite(label_map).all():
                raise EngineError("the mask contains NaN or infinite values; give integer region ids")
            label_map = np.rint(label_map).astype(np.int64)
        return {int(i): (label_map == i).astype(np.float32) for i in np.unique(label_map)}
    if label_map.ndim != 3:
        raise EngineError(f"the mask has shape {label_map.shape}; give H x W region ids or R x H x W soft masks")
    soft = np.clip(np.nan_to_num(label_map.astype(np.float32)), 0.0, 1.0)
    total = soft.sum(0, keepdims=True)
    soft = np.where(total > 1.0, soft / np.maximum(total, 1e-8), soft)
    return {i: soft[i] for i in range(soft.shape[0]) if soft[i].any()}
