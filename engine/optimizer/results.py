"""What a stylize job reports: `Progress` at every optimization step, and the `StylizeResult` at the end (the one
result shape of every method: optimization, trained models, any-style and textures)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..imageio.tensors import to_numpy
from .options import StylizeOptions


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
    """The stylized image (H x W x 3 sRGB in [0, 1]) and the settings written with it, for every kind of job."""

    image: np.ndarray
    settings: dict
    elapsed_s: float
    losses: dict = field(default_factory=dict)  # the last optimization step's terms (none for a network's pass)
    cache_hits: int = 0  # style targets found in the cache (optimization)
    cache_misses: int = 0
    options: StylizeOptions | None = None  # the options an optimization ran with
    changed: np.ndarray | None = None  # textures: H x W bool, texels that may differ from the original
