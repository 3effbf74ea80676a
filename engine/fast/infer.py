"""Running a trained network on a picture: any size, tiled when large (masks, colour and strength: stylize_fast.py).

On a GPU the network runs in bf16/fp16 and channels-last; on the CPU in float32 under inference mode. Large
images run as overlapping tiles, feathered together, with instance-norm statistics shared across the tiles.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..imageio.color import match_color_statistics, with_content_chroma
from ..imageio.images import MIN_SIDE_PX
from ..imageio.tensors import fit_longest_side, resize_image, to_numpy, to_tensor
from ..optimizer.tiling import check_result_fits_in_memory, feather, tile_boxes
from ..runtime.device import resolve_device
from ..runtime.errors import EngineError
from .model_file import load_model
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


def finish_colour(stylized: np.ndarray, content: np.ndarray, strength: float, preserve_color: str) -> np.ndarray:
    if preserve_color == "luminance":
        stylized = with_content_chroma(stylized, content)
    elif preserve_color == "histogram":
        stylized = match_color_statistics(stylized, content)
    return content + strength * (stylized - content)
