"""Shared test helpers: paths of the project and a drawn content picture.

Content is drawn here (the test photos may not ship with the project); styles are the public-domain paintings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
STYLES = REPO / "styles"


def draw_content(width: int = 96, height: int = 72) -> np.ndarray:
    """A small landscape: sky gradient, green hill, red house with a window, yellow sun."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = int(150 + 100 * y / height)
        draw.line([(0, y), (width, y)], fill=(90, 140, shade))
    draw.ellipse([-width // 3, height // 2, width + width // 3, height * 2], fill=(60, 150, 70))
    draw.rectangle([width // 3, height // 3, width // 3 + width // 4, height * 2 // 3], fill=(200, 60, 50))
    draw.rectangle([width // 3 + 5, height // 3 + 6, width // 3 + 11, height // 3 + 12], fill=(250, 240, 200))
    draw.ellipse([width * 3 // 4, 5, width * 3 // 4 + 14, 19], fill=(250, 220, 60))
    return np.asarray(image, dtype=np.float32) / 255.0


def write_synthetic_sequence(folder: Path, frames: int = 4, height: int = 48, width: int = 64,
                             step_px: tuple[int, int] = (3, 2), with_vectors: bool = True) -> list[tuple[Path, Path]]:
    """A textured square moving `step_px` (right, down) a frame over a textured background.

    Writes, per frame, the picture (PNG) and Blender-style multilayer passes (EXR: Combined, Vector with Blender's
    conventions, Depth, Object Index). Returns (png, exr) pairs.
    """
    import OpenEXR

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack([0.5 + 0.3 * np.sin(xs / 5.0) * np.cos(ys / 7.0), 0.4 + 0.2 * np.cos(xs / 9.0 + ys / 6.0),
                           0.6 + 0.2 * np.sin(ys / 4.0)], axis=-1).astype(np.float32)
    cells = (np.add.outer(np.arange(16) // 4, np.arange(16) // 4) % 2).astype(np.float32)
    square = np.stack([0.9 - 0.3 * cells, 0.2 + 0.5 * cells, 0.2 + 0.1 * cells], axis=-1)
    pairs = []
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(frames):
        top, left = 10 + step_px[1] * t, 8 + step_px[0] * t
        picture = background.copy()
        picture[top:top + 16, left:left + 16] = square
        index = np.zeros((height, width), np.float32)
        index[top:top + 16, left:left + 16] = 1
        depth = np.where(index > 0, 5.0, 20.0).astype(np.float32)
        moving = index > 0
        # Blender: X, Y = offset to the previous frame (y up); Z, W = negated offset to the next frame (y up)
        vector = np.zeros((height, width, 4), np.float32)
        if t > 0:
            vector[moving, 0], vector[moving, 1] = -step_px[0], step_px[1]
        if t < frames - 1:
            vector[moving, 2], vector[moving, 3] = -step_px[0], step_px[1]
        png, exr = folder / f"frame_{t:04d}.png", folder / f"frame_{t:04d}.exr"
        Image.fromarray((picture * 255).round().astype(np.uint8)).save(png)
        channels = {f"ViewLayer.Combined.{c}": picture[..., i] for i, c in enumerate("RGB")}
        channels.update({"ViewLayer.Depth.Z": depth, "ViewLayer.Object Index.X": index})
        if with_vectors:
            channels.update({f"ViewLayer.Vector.{c}": vector[..., i] for i, c in enumerate("XYZW")})
        OpenEXR.File({"type": OpenEXR.scanlineimage}, {k: np.ascontiguousarray(v) for k, v in channels.items()}
                     ).write(str(exr))
        pairs.append((png, exr))
    return pairs
