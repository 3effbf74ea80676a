"""Fast stylization of images with a trained model: any size, tiled when large, with masks, colour and strength.

On a GPU the network runs in bf16/fp16 and channels-last; on the CPU in float32 under inference mode. Large
images run as overlapping tiles, feathered together, with instance-norm statistics shared across the tiles.
"""

from __future__ import annotations

import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__
from ..color import check_preserve_color, match_color_statistics, with_content_chroma
from ..device import describe_device, describe_kernels, resolve_device
from ..tiling import check_result_fits_in_memory
from ..errors import EngineError
from ..imageio import MIN_SIDE_PX
from ..losses import resize_weight_map
from ..masks import Region, check_regions_need_mask, region_parts
from ..options import check_strength
from ..results import StylizeResult
from ..tensors import fit_longest_side, resize_image, to_numpy, to_tensor
from ..tiling import feather, tile_boxes
from .guides import read_guides
from .model_file import TUNED_KIND, load_model, read_model_info
from .models import find_model

DEFAULT_TILE_PX = {"cpu": 2048, "cuda": 4096}
OVERLAP_PX = 64  # feathered band between tiles; wider than the network's border effects
EDGE_PAD_PX = 24  # mirrored margin around every pass, cropped off afterwards
STATISTICS_PX = 1024  # instance-norm statistics of tiled images come from the whole image at most this size


def prepare_content(content: np.ndarray, size_px: int | None) -> tuple[torch.Tensor, np.ndarray]:
    """The content at `size_px` longest side (None: its own size) as a CPU tensor and as pixels; refuses results
    too small to stylize."""
    height, width = content.shape[:2] if size_px is None else fit_longest_side(*content.shape[:2], size_px)
    if min(height, width) < MIN_SIDE_PX:
        raise EngineError(f"the output would be {width}x{height} px; each side needs at least {MIN_SIDE_PX} px")
    for warning in check_result_fits_in_memory(content.shape[:2], height, width):
        print(f"warning: {warning}", file=sys.stderr)
    pixels = resize_image(to_tensor(content, torch.device("cpu")), height, width)
    return pixels, to_numpy(pixels)


class FastStylizer:
    """One model loaded on a device, ready for many frames."""

    def __init__(self, model: str | Path, device: str = "auto"):
        self.path = find_model(str(model))
        network, self.info = load_model(self.path)
        self.device = resolve_device(device)
        self.dtype = torch.float32
        if self.device.type == "cuda":
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.network = network.to(self.device, self.dtype)
        if self.device.type == "cuda":
            self.network = self.network.to(memory_format=torch.channels_last)

    @property
    def needs_guides(self) -> bool:
        return bool(self.info.guide_channels)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a mirrored border, cropped off again: no stripes of border artefacts at the edges."""
        pad = min(EDGE_PAD_PX, x.shape[-2] - 1, x.shape[-1] - 1)
        x = F.pad(x.to(self.device, self.dtype), (pad, pad, pad, pad), mode="reflect")
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.network(x)
        return y[..., pad:y.shape[-2] - pad, pad:y.shape[-1] - pad].float()

    @torch.inference_mode()
    def run(self, pixels: torch.Tensor, tile_px: int | None = None, overlap_px: int = OVERLAP_PX) -> torch.Tensor:
        """(1, 3+guides, H, W) in [0, 1] on the CPU to the stylized (1, 3, H, W); tiled above `tile_px` a side."""
        tile_px = tile_px or DEFAULT_TILE_PX.get(self.device.type, DEFAULT_TILE_PX["cpu"])
        height, width = pixels.shape[-2:]
        if max(height, width) <= tile_px:
            return self._forward(pixels).cpu()
        if tile_px < 2 * overlap_px + MIN_SIDE_PX:
            raise EngineError(f"tile size {tile_px} px is too small for the {overlap_px} px overlap; use at least "
                              f"{2 * overlap_px + MIN_SIDE_PX} px")
        norms = self.network.norms()
        overview = pixels
        if max(height, width) > STATISTICS_PX:
            overview = F.interpolate(pixels, size=fit_longest_side(height, width, STATISTICS_PX), mode="area")
        for norm in norms:  # one set of statistics for every tile: no colour or contrast steps at the seams
            norm.record = True
        self._forward(overview)
        for norm in norms:
            norm.record, norm.frozen, norm.recorded = False, norm.recorded, None
        try:
            total = torch.zeros(1, 3, height, width)
            weights = torch.zeros(1, 1, height, width)
            for box in tile_boxes(height, width, tile_px, overlap_px):
                window = (..., slice(box.y, box.y + box.height), slice(box.x, box.x + box.width))
                weight = feather(box, height, width, overlap_px)
                total[window] += self._forward(pixels[window]).cpu() * weight
                weights[window] += weight
        finally:
            for norm in norms:
                norm.frozen = None
        return total / weights


@lru_cache(maxsize=8)
def _cached_stylizer(path: str, modified_ns: int, device: str) -> FastStylizer:
    info = read_model_info(path)
    if info.kind == TUNED_KIND:  # the any-style network tuned to a painting (engine.anystyle.tune)
        from ..anystyle.stylizer import TunedStylizer

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


def finish_colour(stylized: np.ndarray, content: np.ndarray, strength: float, preserve_color: str) -> np.ndarray:
    if preserve_color == "luminance":
        stylized = with_content_chroma(stylized, content)
    elif preserve_color == "histogram":
        stylized = match_color_statistics(stylized, content)
    return content + strength * (stylized - content)


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
