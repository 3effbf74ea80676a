"""The classic, non-neural last resort when every neural attempt ran out of memory (only if the user allows it).

Reinhard colour transfer (mean and spread per channel in CIE Lab) toward the style's palette, then OpenCV's
edge-preserving stylization (a painterly flattening that keeps edges) and a light posterization. It needs a few
bytes per pixel and runs at any size in seconds; it is a filter, not style transfer, and says so in its settings.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

POSTERIZE_LEVELS = 24  # per channel: visible paint-like bands without harsh contouring


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2Lab)


def colour_transfer(content: np.ndarray, styles: Sequence[np.ndarray], blend: Sequence[float]) -> np.ndarray:
    """Content recoloured so its Lab mean and standard deviation per channel match the blended styles'."""
    lab = _lab(content).reshape(-1, 3)
    style_mean = sum(w * _lab(s).reshape(-1, 3).mean(0) for s, w in zip(styles, blend))
    style_std = sum(w * _lab(s).reshape(-1, 3).std(0) for s, w in zip(styles, blend))
    moved = (lab - lab.mean(0)) / np.maximum(lab.std(0), 1e-6) * style_std + style_mean
    moved = moved.reshape(content.shape).astype(np.float32)
    return np.clip(cv2.cvtColor(moved, cv2.COLOR_Lab2RGB), 0, 1)


def classic_filter(content: np.ndarray, styles: Sequence[np.ndarray], blend: Sequence[float],
                   strength: float = 1.0) -> np.ndarray:
    """H x W x 3 sRGB in [0, 1]: colour transfer plus edge-preserving stylization, mixed in by `strength`."""
    recoloured = colour_transfer(content, styles, blend)
    bgr = cv2.cvtColor((recoloured * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)
    sigma_s = float(np.clip(max(content.shape[:2]) / 12, 10, 120))  # the filter's reach follows the image size
    painted = cv2.stylization(bgr, sigma_s=sigma_s, sigma_r=0.35)
    step = 256 // POSTERIZE_LEVELS
    painted = (painted // step * step + step // 2).clip(0, 255).astype(np.uint8)
    result = cv2.cvtColor(painted, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return (strength * result + (1 - strength) * np.asarray(content, np.float32)).astype(np.float32)
