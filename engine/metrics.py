"""Quality measures shared by tests, benchmarks and contact sheets: style, content and flicker distances.

Style and content are measured with the original VGG-19 at a fixed size, so figures compare across methods and runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .flow import Motion, warp
from .imageio import atomic_path
from .losses import content_distance as _content_distance
from .losses import gram_matrix, resize_weight_map
from .losses import style_distance as _style_distance
from .stylize import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, _resize, _to_tensor, fit_longest_side
from .vgg import VGG19Features, load_vgg19

_MODEL: VGG19Features | None = None


def _model() -> VGG19Features:
    global _MODEL
    if _MODEL is None:
        _MODEL = load_vgg19("caffe")
    return _MODEL


def _prepared(image: np.ndarray, longest_px: int) -> torch.Tensor:
    return _resize(_to_tensor(image, torch.device("cpu")), *fit_longest_side(*image.shape[:2], longest_px))


@torch.no_grad()
def style_distance(image: np.ndarray, style: np.ndarray, longest_px: int = 256, mask: np.ndarray | None = None
                   ) -> float:
    """Mean relative Gram-matrix distance over relu1_1..relu5_1 (lower = closer to the painting's style).

    With `mask` (H x W weights at the image's size), only that part of the image is measured.
    """
    model = _model()
    features = model(_prepared(image, longest_px), DEFAULT_STYLE_LAYERS)
    targets = model(_prepared(style, longest_px), DEFAULT_STYLE_LAYERS)
    total = 0.0
    for layer in DEFAULT_STYLE_LAYERS:
        weight_map = None
        if mask is not None:
            weight_map = resize_weight_map(torch.from_numpy(mask.astype(np.float32)), *features[layer].shape[-2:])
        stats = {"gram": gram_matrix(features[layer], weight_map)}
        total += float(_style_distance("gram", stats, {"gram": gram_matrix(targets[layer])}))
    return total / len(DEFAULT_STYLE_LAYERS)


@torch.no_grad()
def content_distance(image: np.ndarray, content: np.ndarray, longest_px: int = 256) -> float:
    """Relative relu4_2 feature distance to the content image (lower = content better kept)."""
    model = _model()
    layer = DEFAULT_CONTENT_LAYERS[0]
    content_pixels = _prepared(content, longest_px)
    image_pixels = _resize(_to_tensor(image, torch.device("cpu")), *content_pixels.shape[-2:])
    features = model(image_pixels, [layer])[layer]
    target = model(content_pixels, [layer])[layer]
    return float(_content_distance(features, target))


def warping_errors(frames: Sequence[np.ndarray], motions: Sequence[Motion]) -> list[float]:
    """Flicker per frame (Lai et al. 2018): masked mean of ||V_t - warp(V_t-1)||^2 over reliable pixels.

    `motions[i]` maps frame i+1 onto frame i; frames are sRGB in [0, 1] at any one size.
    """
    errors = []
    for previous, current, motion in zip(frames, frames[1:], motions):
        motion = motion.resized(*current.shape[:2])
        difference = ((current - warp(previous, motion.flow)) ** 2).sum(-1)
        errors.append(float((motion.reliable * difference).sum() / max(motion.reliable.sum(), 1.0)))
    return errors


def plot_warping_errors(curves: dict[str, list[float]], path: Path) -> None:
    """A PNG plot of warping error per frame, one line per version of the sequence."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 3.5), dpi=100)
    for name, errors in curves.items():
        axes.plot(range(2, len(errors) + 2), errors, marker="o", label=name)
    axes.set(xlabel="frame", ylabel="warping error", title="Flicker per frame (lower is steadier)")
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png")
    pyplot.close(figure)
