"""Transparent content: colour and coverage apart, transparent areas filled for the networks, alpha put back.

Every entry (quality, fast, any-style, sequences, the worker) reads content through `images.read_content`, stylizes its
`rgb` (quality: with `coverage` weighting its terms), and writes `finish(result)`; no network sees alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

OPAQUE = 1.0 - 0.5 / 255  # alpha at or above this everywhere is an opaque image (8-bit 255)
TRANSPARENT = 0.5 / 255  # alpha below this is a fully transparent pixel (8-bit 0)
OWN_COLOUR_ALPHA = 0.25  # a pixel with at least this coverage keeps its own colour in the fill; below, it fades
EDGE_PX = 2  # anti-aliased edges are this wide at most


def unpremultiply(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight colour from premultiplied (associated) colour; fully transparent pixels become 0."""
    a = alpha[..., None]
    return np.where(a >= TRANSPARENT, rgb / np.maximum(a, TRANSPARENT), 0.0).astype(np.float32)


def premultiply(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return (rgb * alpha[..., None]).astype(np.float32)


def fill(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight `rgb` with its transparent areas filled from the nearest covered colours (push-pull).

    The image is averaged down a pyramid, weighted by coverage, and pulled back up: each pixel keeps its own
    colour as far as it is covered and takes the coarser level's (its neighbourhood's) for the rest. Pixels with
    coverage of OWN_COLOUR_ALPHA or more keep their colour exactly; nothing black is left at the edges.
    """
    rgb = np.asarray(rgb, np.float32)
    weight = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    if weight.max() < TRANSPARENT:
        return rgb.copy()
    levels = [(rgb * weight[..., None], weight)]
    while max(levels[-1][1].shape) > 1:
        colour, weight = levels[-1]
        size = (max(1, (weight.shape[1] + 1) // 2), max(1, (weight.shape[0] + 1) // 2))
        levels.append((cv2.resize(colour, size, interpolation=cv2.INTER_AREA),
                       cv2.resize(weight, size, interpolation=cv2.INTER_AREA)))
    colour, weight = levels[-1]
    filled = colour / np.maximum(weight, 1e-12)[..., None]
    for colour, weight in reversed(levels[:-1]):
        coarse = cv2.resize(filled, weight.shape[::-1], interpolation=cv2.INTER_LINEAR).reshape(colour.shape)
        own = np.clip(weight / OWN_COLOUR_ALPHA, 0.0, 1.0)[..., None]
        filled = own * colour / np.maximum(weight, 1e-12)[..., None] + (1.0 - own) * coarse
    return np.clip(filled, 0.0, 1.0).astype(np.float32)


def resize_alpha(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    if alpha.shape == (height, width):
        return alpha
    interpolation = cv2.INTER_AREA if height < alpha.shape[0] else cv2.INTER_LINEAR
    return np.clip(cv2.resize(alpha, (width, height), interpolation=interpolation), 0.0, 1.0)


@dataclass
class Content:
    """A picture ready to stylize: straight colour with transparent areas filled, and its coverage (None: opaque)."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None

    def finish(self, stylized: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(colour, alpha) to write: the content's alpha at the result's size, fully transparent pixels' colour 0.

        Anti-aliased edge pixels (partly covered, within EDGE_PX of a fully covered one) take the colour of the
        stylized object beside them: their own was made partly from the filled background, a light or dark rim once
        composited. Wider partly covered areas (glass, smoke) keep their own.
        """
        if self.alpha is None:
            return stylized, None
        alpha = resize_alpha(self.alpha, *stylized.shape[:2])
        opaque = (alpha >= OPAQUE).astype(np.float32)
        colour = stylized
        if opaque.any() and not opaque.all():
            near = cv2.dilate(opaque, np.ones((2 * EDGE_PX + 1,) * 2, np.uint8)) > 0
            colour = np.where((near & (opaque == 0))[..., None], fill(stylized, opaque), stylized)
        return np.where(alpha[..., None] >= TRANSPARENT, colour, 0.0).astype(np.float32), alpha

    @property
    def coverage(self) -> np.ndarray | None:
        """The optimizer's coverage map: None when the image is opaque or nothing at all is covered."""
        if self.alpha is None or float(self.alpha.max()) < TRANSPARENT:
            return None
        return self.alpha


def prepare(rgb: np.ndarray, alpha: np.ndarray | None) -> Content:
    """Content from straight colour and alpha (as `imageio.read_image` gives them): opaque images pass through."""
    if alpha is None or float(alpha.min()) >= OPAQUE:
        return Content(rgb)
    if float(alpha.max()) < TRANSPARENT:  # nothing covered: stylized as it is, written all transparent
        return Content(rgb, alpha)
    return Content(fill(rgb, alpha), alpha)

