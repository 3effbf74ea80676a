"""Large images: tile layout with feathered overlaps, memory estimates, and the tile size a memory budget allows.

A scale whose pass would not fit the budget runs as overlapping tiles; each tile is optimised against the same
style statistics and the tiles are blended with linear ramps over their overlaps. Memory per pass is estimated
from what autograd actually saves for the backward pass (measured once on a small probe with
`saved_tensors_hooks`), the optimizer's state, and the largest gradient buffers of the backward pass.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

OVERLAP_PX = 32  # feathered band shared by neighbouring tiles at the scale being optimised
MIN_TILE_PX = 128  # below this, tiles are mostly overlap and VGG-19's deep layers see too little
TILE_MULTIPLE_PX = 16  # tile sides are multiples of VGG-19's total pooling stride
SAFETY = 1.15  # margin on the estimate for allocator fragmentation and small temporaries
GB = 1024 ** 3


@dataclass(frozen=True)
class Box:
    """One tile: top-left corner and size, in pixels of the scale it belongs to."""

    y: int
    x: int
    height: int
    width: int


def tile_starts(length: int, tile_px: int, overlap_px: int) -> list[int]:
    """Start offsets of tiles covering `length`, evenly spaced, neighbours overlapping by at least `overlap_px`."""
    if length <= tile_px:
        return [0]
    count = math.ceil((length - overlap_px) / (tile_px - overlap_px))
    return [round(i * (length - tile_px) / (count - 1)) for i in range(count)]


def tile_boxes(height: int, width: int, tile_px: int, overlap_px: int = OVERLAP_PX) -> list[Box]:
    """Row-major tiles covering a height x width image."""
    if tile_px < 2 * overlap_px + TILE_MULTIPLE_PX:
        raise ValueError(f"tile {tile_px} px is too small for a {overlap_px} px overlap")
    return [Box(y, x, min(tile_px, height), min(tile_px, width))
            for y in tile_starts(height, tile_px, overlap_px) for x in tile_starts(width, tile_px, overlap_px)]


def _ramp(length: int, overlap_px: int, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    weight = torch.ones(length)
    ramp = (torch.arange(overlap_px) + 0.5) / overlap_px
    if ramp_start:
        weight[:overlap_px] = torch.minimum(weight[:overlap_px], ramp)
    if ramp_end:
        weight[-overlap_px:] = torch.minimum(weight[-overlap_px:], ramp.flip(0))
    return weight


def feather(box: Box, height: int, width: int, overlap_px: int = OVERLAP_PX) -> torch.Tensor:
    """(1, 1, h, w) blend weight of a tile: ramps over the sides that meet another tile, 1 on the image's border."""
    rows = _ramp(box.height, overlap_px, box.y > 0, box.y + box.height < height)
    cols = _ramp(box.width, overlap_px, box.x > 0, box.x + box.width < width)
    return (rows[:, None] * cols[None, :])[None, None]


def measure_saved_bytes_per_pixel(forward, constants: set[int], probe_px: int = 64) -> tuple[float, float]:
    """Bytes autograd saves per pixel in `forward(image)` (which builds the loss graph), and the largest saved tensor's
    bytes per pixel (a stand-in for the biggest gradient buffer of the backward pass), measured at probe size.

    `constants` are storage addresses that do not grow with the image (the network's weights): left out.
    """
    sizes: dict[int, int] = {}

    def pack(tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in constants:
            sizes[storage.data_ptr()] = storage.nbytes()
        return tensor

    image = torch.rand(1, 3, probe_px, probe_px).requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        forward(image)
    pixels = probe_px * probe_px
    return sum(sizes.values()) / pixels, max(sizes.values(), default=0) / pixels


@dataclass(frozen=True)
class MemoryModel:
    """Bytes one optimization pass of h x w pixels needs: fixed + per_pixel * h * w."""

    fixed_bytes: float  # loss network, style targets, the whole-scale canvas
    per_pixel_bytes: float  # saved activations, backward buffers, optimizer state

    def pass_bytes(self, height: int, width: int) -> float:
        return SAFETY * (self.fixed_bytes + self.per_pixel_bytes * height * width)

    def tile_for(self, height: int, width: int, budget_bytes: float) -> int | None:
        """None when the whole h x w pass fits the budget, else the largest tile side (a multiple of 16) that does."""
        if self.pass_bytes(height, width) <= budget_bytes:
            return None
        room = budget_bytes / SAFETY - self.fixed_bytes
        side = math.sqrt(max(room, 0.0) / self.per_pixel_bytes)
        return int(side // TILE_MULTIPLE_PX) * TILE_MULTIPLE_PX


def available_bytes(device: torch.device) -> float:
    """Memory a job may use when the user set no budget: 90% of the GPU's free memory, 80% of available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 0.9 * (free + torch.cuda.memory_reserved(device))
    try:
        return 0.8 * os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # not on every platform: no automatic limit there
        return math.inf


def smaller_tile(failed_px: int) -> int | None:
    """The next tile size to try after a pass of `failed_px` (its longest side) ran out of memory, or None."""
    if failed_px <= MIN_TILE_PX:
        return None
    return max(MIN_TILE_PX, (failed_px // 2) // TILE_MULTIPLE_PX * TILE_MULTIPLE_PX)


HOST_IMAGE_COPIES = 8  # float32 RGB copies of the result a job holds in RAM at once (resized content, result,
# colour and alpha handling, the 8-bit copy written); the networks' own memory is tiled and comes on top
UPSCALE_WARNING = 4.0  # a result this many times the content's longest side is warned about


def check_result_fits_in_memory(content_shape: tuple[int, int], height: int, width: int) -> list[str]:
    """Before any work: OutOfMemory (one line, needed against available) when the result's pixels alone would not
    fit in the machine's available RAM; else the warnings to print (a large upscale of a small content)."""
    from ..runtime.errors import OutOfMemory

    needed = float(height) * width * 3 * 4 * HOST_IMAGE_COPIES
    available = available_bytes(torch.device("cpu"))
    if needed > available:
        raise OutOfMemory(f"a {width}x{height} px result needs about {needed / GB:.1f} GB of memory, but "
                          f"{available / GB:.1f} GB is available; use a smaller size")
    scale = max(height, width) / max(content_shape[:2])
    return [f"the result is {scale:.0f}x the content's size ({content_shape[1]}x{content_shape[0]} to "
            f"{width}x{height} px): it costs memory and time (about {needed / GB:.1f} GB for its pixels), and adds no "
            "detail"] if scale >= UPSCALE_WARNING else []
