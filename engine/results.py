"""What a stylize job reports: `Progress` at every optimization step, and the `StylizeResult` at the end."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .options import StylizeOptions
from .tensors import to_numpy


@dataclass(frozen=True)
class Progress:
    """One optimization step, as reported to the command line, the add-on and tests."""

    iteration: int  # 1-based, within this scale
    iterations: int
    scale: int  # 1-based
    scales: int
    width_px: int
    height_px: int
    loss: float
    content_loss: float
    style_loss: float
    tv_loss: float
    elapsed_s: float
    tile: int = 1  # 1-based, within this scale (scales that fit the memory budget are one tile)
    tiles: int = 1
    notices: tuple[str, ...] = ()  # what the job had to give up so far (out-of-memory retries, fallbacks)
    current: torch.Tensor | None = field(default=None, repr=False, compare=False)  # this step's image, on the device

    @property
    def fraction_done(self) -> float:
        """Share of the job done, each scale counting equally (the progress bar; not a time estimate)."""
        return (self.scale - 1 + (self.tile - 1 + self.iteration / self.iterations) / self.tiles) / self.scales

    def image(self) -> np.ndarray:
        """The current image (this scale's, or this tile's when tiled) as H x W x 3 sRGB in [0, 1]."""
        return to_numpy(self.current)


@dataclass
class StylizeResult:
    """The stylized image (H x W x 3 sRGB in [0, 1]), the settings written with it, the last losses, and the
    options the job ran with."""

    image: np.ndarray
    settings: dict
    losses: dict
    elapsed_s: float
    cache_hits: int = 0
    cache_misses: int = 0
    options: StylizeOptions | None = None
