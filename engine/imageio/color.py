"""Colour handling: sRGB transfer functions, luminance/chroma split, and colour-statistics transfer.

Used for colour preservation (`preserve_color`) and for bringing scene-linear renders to display sRGB.
"""

from __future__ import annotations

import numpy as np

from ..runtime.errors import EngineError

PRESERVE_COLOR_MODES = ("none", "luminance", "histogram")

# YIQ (NTSC): Y is luminance, I and Q carry chroma.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]], dtype=np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    srgb = np.asarray(srgb, dtype=np.float32)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.maximum(np.asarray(linear, dtype=np.float32), 0.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055).astype(np.float32)


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    return (np.asarray(rgb, dtype=np.float32) @ _RGB_TO_YIQ.T).astype(np.float32)


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    return (np.asarray(yiq, dtype=np.float32) @ _YIQ_TO_RGB.T).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_yiq(rgb)[..., 0]


def grey_like_content(style_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The style's luminance, matched to the content's luminance mean and spread, as a grey RGB image."""
    style_y, content_y = luminance(style_rgb), luminance(content_rgb)
    matched = (style_y - style_y.mean()) / (style_y.std() + 1e-6) * content_y.std() + content_y.mean()
    return np.repeat(np.clip(matched, 0, 1)[..., None], 3, axis=-1)


def with_content_chroma(stylized_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """Stylized luminance joined with the content's chroma (I and Q)."""
    yiq = rgb_to_yiq(content_rgb)
    yiq[..., 0] = luminance(stylized_rgb)
    return np.clip(yiq_to_rgb(yiq), 0.0, 1.0)


def _sqrt_psd(matrix: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    values = np.clip(values, 1e-8, None)
    root = values ** (-0.5 if inverse else 0.5)
    return (vectors * root) @ vectors.T


def match_color_statistics(source_rgb: np.ndarray, reference_rgb: np.ndarray) -> np.ndarray:
    """`source` recoloured so its RGB mean and covariance equal `reference`'s (Gatys et al. 2017, sec. 5)."""
    src = source_rgb.reshape(-1, 3).astype(np.float64)
    ref = reference_rgb.reshape(-1, 3).astype(np.float64)
    mu_s, mu_r = src.mean(0), ref.mean(0)
    cov_s = np.cov(src, rowvar=False) + 1e-5 * np.eye(3)
    cov_r = np.cov(ref, rowvar=False) + 1e-5 * np.eye(3)
    transform = _sqrt_psd(cov_r) @ _sqrt_psd(cov_s, inverse=True)
    out = (src - mu_s) @ transform.T + mu_r
    return np.clip(out, 0, 1).reshape(source_rgb.shape).astype(np.float32)


def check_preserve_color(mode: str) -> None:
    if mode not in PRESERVE_COLOR_MODES:
        raise EngineError(f"unknown colour preservation '{mode}'; use one of {', '.join(PRESERVE_COLOR_MODES)}")
