"""Fast stylization with a model file of either kind: a trained network (`infer.FastStylizer`) or the any-style
network tuned to a painting (`engine.anystyle.stylizer.TunedStylizer`). `get_stylizer` opens the file as its kind
says; `stylize_fast` paints a picture with it, with regions, strength and colour.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__
from ..anystyle.stylizer import TunedStylizer
from ..imageio.color import check_preserve_color
from ..imageio.tensors import to_numpy
from ..optimizer.losses import resize_weight_map
from ..optimizer.masks import Region, check_regions_need_mask, region_parts
from ..optimizer.options import check_strength
from ..optimizer.results import StylizeResult
from ..runtime.device import describe_device, describe_kernels
from ..runtime.errors import EngineError
from .guides import read_guides
from .infer import DEFAULT_TILE_PX, FastStylizer, finish_colour, prepare_content
from .model_file import TUNED_KIND, read_model_info
from .models import find_model


@lru_cache(maxsize=8)
def _cached_stylizer(path: str, modified_ns: int, device: str) -> FastStylizer:
    info = read_model_info(path)
    if info.kind == TUNED_KIND:  # the any-style network tuned to a painting (engine.anystyle.tune)
        return TunedStylizer(Path(path), info, device)
    return FastStylizer(path, device)


def is_tuned(stylizer: FastStylizer) -> bool:
    return stylizer.info is not None and stylizer.info.kind == TUNED_KIND


def get_stylizer(model: str | Path, device: str = "auto") -> FastStylizer:
    """A loaded model, reused across frames (and reloaded when its file changes)."""
    path = find_model(str(model)).resolve()
    return _cached_stylizer(str(path), path.stat().st_mtime_ns, device)


def _network_input(stylizer: FastStylizer, content: torch.Tensor, render_path) -> torch.Tensor:
    if not stylizer.needs_guides:
        return content
    if render_path is None:
        raise EngineError(f"model {stylizer.path.name} was trained with render-pass guides "
                          f"({', '.join(stylizer.info.guide_channels)}); give the frame as the EXR render that has them")
    guides = read_guides(render_path, stylizer.info.guide_channels, stylizer.info.guide_ranges)
    guides = torch.from_numpy(guides).permute(2, 0, 1)[None]
    guides = F.interpolate(guides, size=content.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([content, guides], 1)


def stylize_fast(content: np.ndarray, model: str | Path, *, size_px: int | None = None, style_strength: float = 1.0,
                 preserve_color: str = "none", label_map: np.ndarray | None = None,
                 regions: dict[int, Region] | None = None, render_path=None, tile_px: int | None = None,
                 device: str = "auto") -> StylizeResult:
    """Stylize `content` (H x W x 3 sRGB in [0, 1]) with a model; returns the image at `size_px` longest side
    (default: the content's size). Regions of `label_map` may keep the original or use another model."""
    started = time.perf_counter()
    check_preserve_color(preserve_color)
    check_strength(style_strength)
    check_regions_need_mask(regions, label_map)
    pixels, base = prepare_content(content, size_px)
    height, width = base.shape[:2]
    main = get_stylizer(model, device)
    outputs: dict[tuple, np.ndarray] = {}

    def stylized_by(name: str | None, strength: float) -> np.ndarray:
        """The picture as the model `name` (None: the main one) paints it at `strength`, colour finished."""
        stylizer = main if name is None else get_stylizer(name, device)
        if is_tuned(stylizer):  # strength moves the style vector, as for --model any
            key = (name, strength)
            if key not in outputs:
                outputs[key] = stylizer.stylize(base, strength=strength, preserve_color=preserve_color,
                                                tile_px=tile_px).image
            return outputs[key]
        if (name, None) not in outputs:
            outputs[(name, None)] = to_numpy(stylizer.run(_network_input(stylizer, pixels, render_path), tile_px))
        return finish_colour(outputs[(name, None)], base, strength, preserve_color)

    if label_map is None:
        result = stylized_by(None, style_strength)
    else:
        result = np.zeros_like(base)
        covered = np.zeros((height, width, 1), np.float32)
        for part in region_parts(label_map, content.shape[:2], regions, style_strength):
            alpha = resize_weight_map(torch.from_numpy(part.weight_map), height, width).numpy()[..., None]
            region_image = base if part.keeps_original else stylized_by(part.setting.model, part.strength)
            result += alpha * region_image
            covered += alpha
        result = result + (1 - np.clip(covered, 0, 1)) * base  # pixels no region fully covers keep the original
    settings = dict(method="fast", model=main.path.stem, model_file=str(main.path), model_style=main.info.style,
                    model_kind=main.info.kind, loss_network=main.info.loss_network, width_px=width, height_px=height,
                    style_strength=style_strength, preserve_color=preserve_color,
                    tile_px=tile_px or DEFAULT_TILE_PX.get(main.device.type, DEFAULT_TILE_PX["cpu"]),
                    precision=str(main.dtype).removeprefix("torch."), device=describe_device(main.device),
                    kernels=describe_kernels(main.device),
                    engine_version=__version__)
    return StylizeResult(np.clip(result, 0, 1).astype(np.float32), settings, time.perf_counter() - started)
