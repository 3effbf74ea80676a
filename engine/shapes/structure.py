"""Where a render's shapes are: object, depth and normal discontinuities from its passes, as maps for the optimizer.

Depth (relative jumps) is required; Object Index and Normal (angle) add boundaries where present. The same
boundary tests drive the structure term of the optimizer and the legibility measure in engine/measures/metrics.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..imageio.images import read_exr_channels
from ..imageio.passes import checked_pass, depth_pass, index_pass, stacked_channel
from ..runtime.errors import EngineError

DEFAULT_STRUCTURE = 0.5  # what the add-on and the command line use unless told: shapes read, surfaces take the style
DEPTH_JUMP = 0.1  # relative depth change between two pixels that counts as a boundary (occlusion edge)
NORMAL_JUMP_DEG = 30.0  # normal angle that counts as a crease
SURFACE_DEPTH = 0.03  # at most this relative depth change (and same object, NORMAL_SURFACE_DEG) is one surface
NORMAL_SURFACE_DEG = 10.0
FAR = 1e6  # depths beyond this (the world) are clamped, so relative jumps stay finite
PASSES_NEEDED = "a multilayer EXR of the same render with the Depth pass (Object Index and Normal help)"


@dataclass
class StructurePasses:
    """The passes that say where shapes are; arrays are top-down H x W (normal H x W x 3)."""

    path: Path | None
    depth: np.ndarray
    object_index: np.ndarray | None = None
    normal: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.depth.shape[:2]

    def resized(self, height: int, width: int) -> "StructurePasses":
        """The same passes at another size (nearest neighbour: ids and depths are not blended)."""
        if (height, width) == self.shape:
            return self

        def nearest(array):
            return None if array is None else cv2.resize(array, (width, height), interpolation=cv2.INTER_NEAREST)

        return StructurePasses(self.path, nearest(self.depth), nearest(self.object_index), nearest(self.normal))


def read_structure_passes(path, shape: tuple[int, int] | None = None) -> StructurePasses:
    """Depth, Object Index and Normal from a Blender multilayer EXR; one clear line when Depth is missing or the
    passes are not `shape` (H, W) (the picture they belong to)."""
    path = Path(path)
    channels = read_exr_channels(path, "render passes")
    depth = depth_pass(channels, path)
    if depth is None:
        raise EngineError(f"{path} has no Depth pass, which --structure needs; enable View Layer > Passes > Z "
                          "(Depth) and render again")
    if shape is not None and depth.shape[:2] != tuple(shape):
        raise EngineError(f"the passes in {path} are {depth.shape[1]}x{depth.shape[0]} px but the picture is "
                          f"{shape[1]}x{shape[0]} px; give the passes of the same render")
    return StructurePasses(path, depth, index_pass(channels, path),
                           checked_pass(stacked_channel(channels, "Normal", "XYZ"), path, "Normal"))


def _shifted_pairs(array: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b): every pixel and its neighbour (dy, dx) away, over the pixels that have one."""
    height, width = array.shape[:2]
    return array[: height - dy, : width - dx], array[dy:, dx:]


def _relative_depth_change(depth: np.ndarray, dy: int, dx: int) -> np.ndarray:
    near = np.clip(depth, 1e-6, FAR)
    a, b = _shifted_pairs(near, dy, dx)
    return np.abs(a - b) / np.minimum(a, b)


def _normal_angle_deg(normal: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Angle between neighbours' normals; 0 where either has no normal (the world)."""
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    unit = np.where(length > 0.5, normal / np.maximum(length, 1e-6), 0.0)
    a, b = _shifted_pairs(unit, dy, dx)
    valid = (np.abs(a).sum(-1) > 0) & (np.abs(b).sum(-1) > 0)
    cosine = np.clip((a * b).sum(-1), -1.0, 1.0)
    return np.where(valid, np.degrees(np.arccos(cosine)), 0.0)


def pair_classes(passes: StructurePasses, step_px: int = 2) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """For horizontal (0, step) and vertical (step, 0) pixel pairs: (boundary, surface) boolean masks.

    A boundary pair straddles an object change, a relative depth jump or a crease; a surface pair is on one object,
    with almost no depth or normal change, and neither pixel is next to a boundary.
    """
    near_boundary = edge_map(passes, radius_px=step_px) > 0
    classes = {}
    for dy, dx in ((0, step_px), (step_px, 0)):
        depth_change = _relative_depth_change(passes.depth, dy, dx)
        boundary = depth_change > DEPTH_JUMP
        surface = depth_change < SURFACE_DEPTH
        if passes.object_index is not None:
            a, b = _shifted_pairs(passes.object_index, dy, dx)
            boundary |= a != b
            surface &= a == b
        if passes.normal is not None:
            angle = _normal_angle_deg(passes.normal, dy, dx)
            boundary |= angle > NORMAL_JUMP_DEG
            surface &= angle < NORMAL_SURFACE_DEG
        a, b = _shifted_pairs(near_boundary, dy, dx)
        classes[dy, dx] = (boundary, surface & ~a & ~b)
    return classes


def edge_map(passes: StructurePasses, radius_px: int = 1) -> np.ndarray:
    """H x W float32: 1 on pixels within `radius_px` of a discontinuity between neighbouring pixels, else 0."""
    height, width = passes.shape
    edges = np.zeros((height, width), bool)
    for dy, dx in ((0, 1), (1, 0)):
        jump = _relative_depth_change(passes.depth, dy, dx) > DEPTH_JUMP
        if passes.object_index is not None:
            a, b = _shifted_pairs(passes.object_index, dy, dx)
            jump |= a != b
        if passes.normal is not None:
            jump |= _normal_angle_deg(passes.normal, dy, dx) > NORMAL_JUMP_DEG
        edges[: height - dy, : width - dx] |= jump
        edges[dy:, dx:] |= jump
    if radius_px > 1:
        kernel = np.ones((2 * radius_px - 1, 2 * radius_px - 1), np.uint8)
        edges = cv2.dilate(edges.astype(np.uint8), kernel).astype(bool)
    return edges.astype(np.float32)


def structure_map(passes: StructurePasses, strength: float, region_strength: dict[int, float] | None = None,
                  shape: tuple[int, int] | None = None) -> np.ndarray | None:
    """Per-pixel strength of the structure term: `strength` (or an object's own) on discontinuities, 0 elsewhere.

    `region_strength` maps Object Index values to their own strength (needs the Object Index pass); None when the
    term is off everywhere (today's optimization exactly).
    """
    for what, value in [("structure", strength), *((f"structure of object {i}", s)
                                                    for i, s in (region_strength or {}).items())]:
        if not 0.0 <= value <= 1.0:
            raise EngineError(f"{what} must be between 0 and 1, got {value}")
    if shape is not None:
        passes = passes.resized(*shape)
    strengths = np.full(passes.shape, strength, np.float32)
    if region_strength:
        if passes.object_index is None:
            raise EngineError(f"{passes.path} has no Object Index pass, which per-object structure needs; enable "
                              "View Layer > Passes > Object Index")
        for index, value in region_strength.items():
            strengths[passes.object_index == index] = value
        # a boundary between two objects takes the stronger setting of the two
        strengths = cv2.dilate(strengths, np.ones((3, 3), np.uint8))
    weights = edge_map(passes, radius_px=2) * strengths
    return weights if weights.max() > 0 else None
