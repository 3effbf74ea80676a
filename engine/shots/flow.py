"""Motion between frames: flow from Blender's Vector pass (or estimated with OpenCV DIS), warping, reliability.

Flows are H x W x 2 arrays of (dx, dy) in pixels with rows top-down. The backward flow of frame t says where
each pixel was in frame t-1: this pixel's colour in t-1 is at (x + dx, y + dy).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..imageio.color import luminance
from ..imageio.passes import RenderPasses


@dataclass
class Motion:
    """How this frame maps onto another (usually the previous one), and which pixels can trust that mapping."""

    flow: np.ndarray  # H x W x 2: this pixel is at (x + dx, y + dy) in the other frame
    reliable: np.ndarray  # H x W in [0, 1]: 0 where occluded, disoccluded, out of frame or on a motion edge
    source: str  # "render vectors" or "estimated (OpenCV DIS)"
    same_object: np.ndarray | None = None  # H x W in [0, 1]: 1 where the source pixel shows the same object

    def resized(self, height: int, width: int) -> "Motion":
        """The same motion at another resolution (flow values scale with the image)."""
        h, w = self.flow.shape[:2]
        if (h, w) == (height, width):
            return self
        flow = cv2.resize(self.flow, (width, height), interpolation=cv2.INTER_LINEAR)
        flow = flow * np.array([width / w, height / h], np.float32)
        reliable = cv2.resize(self.reliable, (width, height), interpolation=cv2.INTER_AREA)
        same = None if self.same_object is None else np.clip(
            cv2.resize(self.same_object, (width, height), interpolation=cv2.INTER_AREA), 0, 1)
        return Motion(flow.astype(np.float32), np.clip(reliable, 0, 1).astype(np.float32), self.source, same)


def backward_from_vectors(vector: np.ndarray) -> np.ndarray:
    """Blender's X, Y (offset to the previous frame, y up) as a top-down backward flow."""
    return np.stack([vector[..., 0], -vector[..., 1]], axis=-1).astype(np.float32)


def forward_from_vectors(vector: np.ndarray) -> np.ndarray:
    """Blender's Z, W (negated offset to the next frame, y up) as a top-down forward flow."""
    return np.stack([-vector[..., 2], vector[..., 3]], axis=-1).astype(np.float32)


def _grid(flow: torch.Tensor) -> torch.Tensor:
    """Sampling grid for grid_sample from a (1, H, W, 2) pixel flow."""
    _, height, width, _ = flow.shape
    ys, xs = torch.meshgrid(torch.arange(height, device=flow.device, dtype=torch.float32),
                            torch.arange(width, device=flow.device, dtype=torch.float32), indexing="ij")
    x = (xs + flow[..., 0]) * (2.0 / max(width - 1, 1)) - 1.0
    y = (ys + flow[..., 1]) * (2.0 / max(height - 1, 1)) - 1.0
    return torch.stack([x, y], dim=-1)


def warp(image: np.ndarray, flow: np.ndarray, mode: str = "bilinear", device: str | torch.device = "cpu"
         ) -> np.ndarray:
    """`image` (H x W or H x W x C) sampled at (x + dx, y + dy): the previous frame brought onto this one."""
    squeeze = image.ndim == 2
    pixels = torch.from_numpy(np.ascontiguousarray(image[..., None] if squeeze else image, dtype=np.float32))
    pixels = pixels.permute(2, 0, 1)[None].to(device)
    grid = _grid(torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32))[None].to(device))
    out = F.grid_sample(pixels, grid, mode=mode, padding_mode="border", align_corners=True)[0].permute(1, 2, 0)
    out = out.cpu().numpy()
    return out[..., 0] if squeeze else out


def _inside(flow: np.ndarray) -> np.ndarray:
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def reliability(backward: np.ndarray, forward_prev: np.ndarray | None = None,
                index: np.ndarray | None = None, index_prev: np.ndarray | None = None,
                depth: np.ndarray | None = None, depth_prev: np.ndarray | None = None) -> np.ndarray:
    """1 where the backward mapping can be trusted, 0 where it cannot (Ruder et al. 2016, plus ids and depth).

    Tests: forward/backward disagreement, motion boundaries, leaving the frame, a different object id or a
    clearly different depth at the source pixel (occlusion).
    """
    reliable = _inside(backward)
    squared = (backward ** 2).sum(-1)
    if forward_prev is not None:
        forward_here = warp(forward_prev, backward)
        disagreement = ((backward + forward_here) ** 2).sum(-1)
        reliable &= disagreement <= 0.01 * (squared + (forward_here ** 2).sum(-1)) + 0.5
    du_y, du_x = np.gradient(backward[..., 0])
    dv_y, dv_x = np.gradient(backward[..., 1])
    reliable &= du_x ** 2 + du_y ** 2 + dv_x ** 2 + dv_y ** 2 <= 0.01 * squared + 0.002
    if index is not None and index_prev is not None:
        reliable &= np.rint(warp(index_prev.astype(np.float32), backward, mode="nearest")) == index
    if depth is not None and depth_prev is not None:
        depth_there = warp(depth_prev.astype(np.float32), backward, mode="nearest")
        reliable &= np.abs(depth_there - depth) <= 0.05 * np.maximum(np.abs(depth), 1e-3)
    return reliable.astype(np.float32)


def motion_from_passes(passes: RenderPasses, previous: RenderPasses) -> Motion:
    """Exact motion from the renderer: this frame's Vector pass checked against the previous frame's."""
    vector = passes.require_vector()
    backward = backward_from_vectors(vector)
    forward_prev = forward_from_vectors(previous.vector) if previous.vector is not None else None
    mask = reliability(backward, forward_prev, passes.object_index, previous.object_index, passes.depth,
                       previous.depth)
    same = None
    if passes.object_index is not None and previous.object_index is not None:
        source_index = warp(previous.object_index.astype(np.float32), backward, mode="nearest")
        same = (np.rint(source_index) == passes.object_index).astype(np.float32)
    return Motion(backward, mask, "render vectors", same)


def estimated_motion(rgb: np.ndarray, previous_rgb: np.ndarray) -> Motion:
    """Optical flow estimated from the pictures alone (OpenCV DIS), for sequences without a Vector pass."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)  # full-resolution refinement: sub-pixel accuracy matters more than speed here
    current = np.ascontiguousarray(np.clip(luminance(rgb) * 255, 0, 255).astype(np.uint8))
    before = np.ascontiguousarray(np.clip(luminance(previous_rgb) * 255, 0, 255).astype(np.uint8))
    backward = dis.calc(current, before, None)
    forward_prev = dis.calc(before, current, None)
    return Motion(backward, reliability(backward, forward_prev), "estimated (OpenCV DIS)")
