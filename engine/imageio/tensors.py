"""Public tensor helpers: pixels (H x W x 3 sRGB in [0, 1], numpy) to and from (1, 3, H, W) tensors, resizing, and
the sizes of the coarse-to-fine scales every optimization runs through.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime.errors import EngineError
from .images import MIN_SIDE_PX

MIN_SCALE_PX = 128  # automatic scales halve down to about this longest side


def to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """H x W x 3 pixels to a contiguous float32 (1, 3, H, W) tensor on `device`."""
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None].contiguous().to(device)


def to_numpy(image: torch.Tensor) -> np.ndarray:
    """A (1, 3, H, W) tensor to H x W x 3 float32 pixels on the CPU, clamped to [0, 1]."""
    return image.detach().float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()


def resize_image(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic, antialiased resize of a (N, C, H, W) image, clamped to [0, 1]; the same tensor at its own size."""
    if image.shape[-2:] == (height, width):
        return image
    return F.interpolate(image, size=(height, width), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def fit_longest_side(height: int, width: int, longest_px: int) -> tuple[int, int]:
    """The (height, width) with the same aspect whose longest side is `longest_px`."""
    scale = longest_px / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def scale_shape(height: int, width: int, longest_px: int) -> tuple[int, int]:
    """An image's size at a scale, grown where needed so the short side keeps the 16 px VGG-19 needs."""
    scale_h, scale_w = fit_longest_side(height, width, longest_px)
    if min(scale_h, scale_w) < MIN_SIDE_PX:
        grow = MIN_SIDE_PX / min(scale_h, scale_w)
        scale_h, scale_w = math.ceil(scale_h * grow), math.ceil(scale_w * grow)
    return scale_h, scale_w


def scale_sizes(longest_px: int, scales: int | None) -> list[int]:
    """Longest side of each scale, coarse to fine, halving each time (auto: down to about 128 px)."""
    if scales is None:
        scales = 1 + max(0, int(math.floor(math.log2(longest_px / MIN_SCALE_PX))))
    if scales < 1:
        raise EngineError(f"scales must be at least 1, got {scales}")
    return [max(16, round(longest_px / 2 ** (scales - 1 - i))) for i in range(scales)]
