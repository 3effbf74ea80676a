"""Spatial control: label maps (one region id per pixel, or soft masks) and what each region gets.

`Region` is the one setting type of every method (optimization, trained models, any-style, sequences): a region
may take its own styles (or, under a trained model, its own model), its own strength, or keep the original pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np

from ..runtime.errors import EngineError
from .options import check_strength


@dataclass
class Region:
    """One region's setting; fields left as None inherit the image-wide setting."""

    styles: Sequence[np.ndarray] | None = None  # optimization and any-style: the region's own paintings
    style_blend: Sequence[float] | None = None  # weights of those paintings
    model: str | None = None  # trained-model stylization: the region's own model
    strength: float | None = None
    keep_original: bool = False


@dataclass(frozen=True)
class RegionPart:
    """One region of a label map as a job sees it: its weight map, its setting and the strength it gets."""

    region_id: int
    weight_map: np.ndarray  # H x W in [0, 1] at the content's size
    setting: Region
    strength: float

    @property
    def keeps_original(self) -> bool:
        return self.setting.keep_original or self.strength == 0


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


def check_regions_need_mask(regions: Mapping[int, Region] | None, label_map: np.ndarray | None) -> None:
    """Refuse region settings given without the label map they refer to."""
    if regions and label_map is None:
        raise EngineError("region settings were given without a mask; give the label map too")


def region_parts(label_map: np.ndarray, shape: tuple[int, int], regions: Mapping[int, Region] | None,
                 strength: float) -> Iterator[RegionPart]:
    """Every region of `label_map` with its setting (default: inherit everything) and strength (default:
    `strength`); refuses settings for ids the mask does not have and strengths outside [0, 1]."""
    maps = region_weight_maps(label_map, shape)
    regions = regions or {}
    unknown = sorted(set(regions) - set(maps))
    if unknown:
        raise EngineError(f"regions {unknown} are not in the mask (it has ids {sorted(maps)}); check the ids")
    for region_id, weight_map in maps.items():
        setting = regions.get(region_id, Region())
        region_strength = strength if setting.strength is None else setting.strength
        check_strength(region_strength, f"region {region_id}: strength")
        yield RegionPart(region_id, weight_map, setting, region_strength)
