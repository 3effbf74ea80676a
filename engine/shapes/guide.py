"""Structure for fast stylization: a post-pass that restores the render's boundary steps in a fast result.

Fast networks (any-style and trained models) paint in one pass and cannot take the optimizer's structure term. This
pass takes their output and runs a few L-BFGS steps on the image alone, no VGG: the structure term
(`losses.structure_distance`) at the render's discontinuities, and closeness to the fast output near them; pixels
farther than 4 px from a boundary are not touched, so the outlines come back and the surfaces keep the network's
strokes.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..optimizer.lbfgs import LBFGS
from ..optimizer.losses import structure_distance
from ..runtime.device import resolve_device
from ..runtime.errors import EngineError
from .structure import PASSES_NEEDED, read_structure_passes, structure_map

GUIDE_ITERATIONS = 60  # L-BFGS steps (each is a few pixel-wise operations)
GUIDE_CLOSENESS = 0.5  # weight of staying at the fast output near boundaries, against the structure term
GUIDE_GAIN = 3.0  # as the optimizer's STRUCTURE_GAIN: boundary steps held at (1 + gain x structure) x the render's


def restore_boundaries(image: np.ndarray, render: np.ndarray, structure: np.ndarray,
                       iterations: int = GUIDE_ITERATIONS, device: str = "auto") -> np.ndarray:
    """`image` (the fast result, H x W x 3 in [0, 1]) with its colour steps at the render's discontinuities pulled
    to the structure term's targets; `render` and `structure` (the structure map) are resized to it. Runs on
    `device` (engine.runtime.device's choices), in float32."""
    height, width = image.shape[:2]
    if render.shape[:2] != (height, width):
        render = cv2.resize(render, (width, height), interpolation=cv2.INTER_AREA)
    if structure.shape != (height, width):
        structure = cv2.resize(structure, (width, height), interpolation=cv2.INTER_NEAREST)

    on = resolve_device(device)

    def tensor(array):
        return torch.from_numpy(np.ascontiguousarray(array, np.float32)).to(on)

    fast = tensor(image).permute(2, 0, 1)[None]
    content = tensor(render).permute(2, 0, 1)[None]
    weights = tensor(structure)
    near = (torch.nn.functional.max_pool2d(weights[None, None], 5, 1, 2)[0, 0] > 0).float()
    scale = 1.0 / near.sum().clamp_min(1.0)
    current = fast.clone().requires_grad_(True)

    def closure():
        current.grad = None
        loss = (structure_distance(current, content, weights, GUIDE_GAIN)
                + GUIDE_CLOSENESS * scale * (near * (current - fast).pow(2).sum(1)).sum())
        loss.backward()
        return loss.detach()

    optimizer = LBFGS(current, history_size=min(20, iterations))
    for _ in range(iterations):
        optimizer.step(closure)
    return current.detach().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()


def guided_by_passes(image: np.ndarray, render: np.ndarray, strength: float, passes: str | None,
                     device: str = "auto") -> np.ndarray:
    """`restore_boundaries` from the command line's --structure and --passes (the render's multilayer EXR)."""
    if not passes:
        raise EngineError(f"--structure needs the render's passes: give --passes FRAME.exr, {PASSES_NEEDED}")
    weights = structure_map(read_structure_passes(passes, render.shape[:2]), strength)
    return image if weights is None else restore_boundaries(image, render, weights, device=device)
