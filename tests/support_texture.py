"""Drawn textures for the texture tests and the texture demo: a tileable one, and a painted-on one that shows a
change from every side of an object (bench.scenes renders them on an object)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def tileable_texture(size_px: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth texture that tiles: sums of sinusoids whose periods divide the tile."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size_px, 0:size_px] / size_px
    out = np.full((size_px, size_px, 3), 0.5)
    for channel in range(3):
        for _ in range(6):
            fx, fy = rng.integers(-4, 5, 2)
            out[..., channel] += 0.12 * np.sin(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 2 * np.pi))
    return np.clip(out, 0, 1).astype(np.float32)


def painted_texture(width: int = 128, height: int = 64) -> np.ndarray:
    """A colourful texture with bands, discs and a grid, so changes show from every side of an object."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for row in range(height):
        t = row / height
        draw.line([(0, row), (width, row)], fill=(int(60 + 150 * t), int(120 + 80 * (1 - t)), int(200 - 120 * t)))
    rng = np.random.default_rng(3)
    for _ in range(9):
        cx, cy, r = rng.integers(0, width), rng.integers(height // 6, height * 5 // 6), rng.integers(height // 10, height // 4)
        colour = tuple(int(c) for c in rng.integers(40, 250, 3))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    for col in range(0, width, width // 8):
        draw.line([(col, 0), (col, height)], fill=(250, 245, 230), width=1)
    return np.asarray(image, dtype=np.float32) / 255.0


def save_png(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)
    return path
