"""Quality measures shared by tests, benchmarks and contact sheets: style, content, legibility and flicker.

Style and content are measured with the original VGG-19 at a fixed size, so figures compare across methods and runs;
legibility (boundary contrast kept) with the render's passes; flicker with its motion vectors and a stated mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from ..imageio.images import SETTINGS_KEY, atomic_path
from ..imageio.passes import RenderPasses
from ..imageio.tensors import fit_longest_side, resize_image, to_tensor
from ..optimizer import losses
from ..optimizer.losses import gram_matrix, resize_weight_map
from ..optimizer.options import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from ..optimizer.vgg import load_vgg19
from ..runtime.errors import EngineError
from ..shapes.structure import StructurePasses, pair_classes
from ..shots.flow import Motion, backward_from_vectors, forward_from_vectors, reliability, warp


def _prepared(image: np.ndarray, longest_px: int) -> torch.Tensor:
    return resize_image(to_tensor(image, torch.device("cpu")), *fit_longest_side(*image.shape[:2], longest_px))


@torch.no_grad()
def style_distance(image: np.ndarray, style: np.ndarray, longest_px: int = 256, mask: np.ndarray | None = None
                   ) -> float:
    """Mean relative Gram-matrix distance over relu1_1..relu5_1 (lower = closer to the painting's style).

    With `mask` (H x W weights at the image's size), only that part of the image is measured.
    """
    model = load_vgg19()
    features = model(_prepared(image, longest_px), DEFAULT_STYLE_LAYERS)
    targets = model(_prepared(style, longest_px), DEFAULT_STYLE_LAYERS)
    total = 0.0
    for layer in DEFAULT_STYLE_LAYERS:
        weight_map = None
        if mask is not None:
            weight_map = resize_weight_map(torch.from_numpy(mask.astype(np.float32)), *features[layer].shape[-2:])
        stats = {"gram": gram_matrix(features[layer], weight_map)}
        total += float(losses.style_distance("gram", stats, {"gram": gram_matrix(targets[layer])}))
    return total / len(DEFAULT_STYLE_LAYERS)


@torch.no_grad()
def content_distance(image: np.ndarray, content: np.ndarray, longest_px: int = 256) -> float:
    """Relative relu4_2 feature distance to the content image (lower = content better kept)."""
    model = load_vgg19()
    layer = DEFAULT_CONTENT_LAYERS[0]
    content_pixels = _prepared(content, longest_px)
    image_pixels = resize_image(to_tensor(image, torch.device("cpu")), *content_pixels.shape[-2:])
    features = model(image_pixels, [layer])[layer]
    target = model(content_pixels, [layer])[layer]
    return float(losses.content_distance(features, target))


SURFACE_NOISE_FLOOR = 1.0 / 255  # surfaces flatter than one 8-bit level count as this much contrast
FLICKER_MASKS = ("standard", "engine")


def _pair_contrasts(image: np.ndarray, passes: StructurePasses, step_px: int) -> tuple[float, float]:
    """Mean RGB distance of pixel pairs `step_px` apart across boundaries, and on continuous surfaces."""
    sums, counts = [0.0, 0.0], [0, 0]
    height, width = image.shape[:2]
    for (dy, dx), masks in pair_classes(passes, step_px).items():
        difference = np.linalg.norm(image[: height - dy, : width - dx] - image[dy:, dx:], axis=-1)
        for kind, mask in enumerate(masks):
            sums[kind] += float(difference[mask].sum())
            counts[kind] += int(mask.sum())
    if not counts[0] or not counts[1]:
        what = "no boundaries (object, depth or normal changes)" if not counts[0] else "no continuous surfaces"
        raise EngineError(f"the passes of {passes.path or 'this render'} show {what}, so legibility cannot be "
                          "measured there; measure a frame with objects in view")
    return sums[0] / counts[0], sums[1] / counts[1]


def boundary_contrast(image: np.ndarray, passes: StructurePasses, step_px: int = 2) -> float:
    """How much more colour changes across the render's boundaries than on its surfaces (pairs `step_px` apart).

    `image` is H x W x 3 sRGB in [0, 1]; the passes are resized to it (nearest neighbour).
    """
    boundary, surface = _pair_contrasts(np.asarray(image, np.float32), passes.resized(*image.shape[:2]), step_px)
    return boundary / max(surface, SURFACE_NOISE_FLOOR)


def contrast_kept(stylized: np.ndarray, render: np.ndarray, passes: StructurePasses, step_px: int = 2) -> float:
    """Legibility: the stylized image's boundary-to-surface contrast over the render's, at the stylized size
    (1 = shapes read as in the render; style transfer without structure keeps about 0.1-0.2)."""
    render = cv2.resize(np.asarray(render, np.float32), stylized.shape[1::-1], interpolation=cv2.INTER_AREA)
    return boundary_contrast(stylized, passes, step_px) / boundary_contrast(render, passes, step_px)


def standard_motion(passes: RenderPasses, previous: RenderPasses) -> Motion:
    """The render's motion with Ruder et al.'s reliability mask only: forward-backward consistency, motion
    boundaries and leaving the frame (the usual mask for reported warping errors; no id or depth tests)."""
    backward = backward_from_vectors(passes.require_vector())
    forward_prev = None if previous.vector is None else forward_from_vectors(previous.vector)
    return Motion(backward, reliability(backward, forward_prev), "render vectors")


def measured_shares(frames: Sequence[np.ndarray], motions: Sequence[Motion]) -> list[float]:
    """Share of each frame's pixels that its warping error measures (the reliability mask's mean)."""
    return [float(m.resized(*f.shape[:2]).reliable.mean()) for f, m in zip(frames[1:], motions)]


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
        figure.savefig(temp, format="png", metadata={SETTINGS_KEY: '{"kind": "metrics plot"}'})
    pyplot.close(figure)


def shot_curves(stylized: Sequence[Path], passes: Sequence[Path], renders: Sequence[Path],
                style: np.ndarray | None = None) -> dict[str, list]:
    """Per-frame drift and flicker of a stylized shot: contrast kept (against the render), style distance (to
    `style`, None without one) and warping error with the standard mask and the share of pixels it measures (None
    on the first frame, which has no earlier one)."""
    from ..imageio.images import read_rgb
    from ..imageio.passes import read_passes
    from ..shapes.structure import read_structure_passes

    images = [read_rgb(path, "stylized frame") for path in stylized]
    rendered = [read_rgb(path, "render") for path in renders]
    render_passes = [read_passes(path) for path in passes]
    motions = [standard_motion(now, before) for before, now in zip(render_passes, render_passes[1:])]
    return {"contrast_kept": [contrast_kept(image, render, read_structure_passes(path, render.shape[:2]))
                              for image, render, path in zip(images, rendered, passes)],
            "style_distance": [None if style is None else style_distance(image, style) for image in images],
            "warping_error": [None, *warping_errors(images, motions)],
            "measured": [None, *measured_shares(images, motions)]}


def plot_shot_curves(curves: dict[str, dict[str, list]], path: Path) -> None:
    """A PNG of per-frame contrast kept, style distance and warping error, one line per version of the shot."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    from matplotlib import pyplot

    panels = (("contrast_kept", "contrast kept (higher: shapes read)"), ("style_distance", "style distance"),
              ("warping_error", "warping error, standard mask"))
    figure, axes = pyplot.subplots(1, 3, figsize=(12, 3.5), dpi=100)
    for axis, (key, title) in zip(axes, panels):
        for name, curve in curves.items():
            points = [(number, value) for number, value in enumerate(curve[key], start=1) if value is not None]
            if points:
                axis.plot(*zip(*points), marker="o", markersize=3, label=name)
        axis.set(xlabel="frame", title=title)
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0].legend()
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", metadata={SETTINGS_KEY: '{"kind": "metrics plot"}'})
    pyplot.close(figure)
