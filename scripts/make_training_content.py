"""Procedural training content for the bundled fast-stylization models: scenes anyone can regenerate.

Each picture is a seeded random composition (sky/ground gradients, shaded spheres, boxes, polygons, noise
textures, strokes), so the models learn from no photograph. Usage: `python scripts/make_training_content.py
--output out/training_content --count 400 --size 256`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _gradient(rng, width: int, height: int) -> np.ndarray:
    """Two-colour linear gradient at a random angle (sky, wall, floor)."""
    top, bottom = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    angle = rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (np.cos(angle) * ys / height + np.sin(angle) * xs / width)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return top * (1 - t[..., None]) + bottom * t[..., None]


def _noise(rng, width: int, height: int, cell_px: int) -> np.ndarray:
    """Smooth value noise in [0, 1]: coarse random cells upscaled bicubically."""
    coarse = rng.random((max(2, height // cell_px), max(2, width // cell_px))).astype(np.float32)
    image = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    return np.clip(np.asarray(image), 0, 1)


def _sphere(rng, canvas: np.ndarray) -> None:
    """A Lambert-shaded sphere lit from a random direction."""
    height, width = canvas.shape[:2]
    radius = rng.uniform(0.06, 0.3) * min(width, height)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = (xs - cx) / radius, (ys - cy) / radius
    inside = dx ** 2 + dy ** 2 < 1
    dz = np.sqrt(np.clip(1 - dx ** 2 - dy ** 2, 0, 1))
    light = rng.normal(size=3)
    light[2] = abs(light[2]) + 0.5
    light /= np.linalg.norm(light)
    shade = np.clip(dx * light[0] + dy * light[1] + dz * light[2], 0, 1) * 0.85 + 0.15
    colour = np.array(_colour(rng, 30), np.float32)
    canvas[inside] = (shade[..., None] * colour)[inside]


def _textured_region(rng, canvas: np.ndarray) -> None:
    """A noise-textured blob (foliage, clouds, stone) mixed between two colours."""
    height, width = canvas.shape[:2]
    mask = Image.new("L", (width, height))
    draw = ImageDraw.Draw(mask)
    points = [(float(rng.uniform(-0.1, 1.1) * width), float(rng.uniform(-0.1, 1.1) * height))
              for _ in range(int(rng.integers(3, 8)))]
    draw.polygon(points, fill=255)
    alpha = np.asarray(mask.filter(ImageFilter.GaussianBlur(2)), np.float32)[..., None] / 255
    texture = _noise(rng, width, height, int(rng.integers(3, 24)))[..., None]
    a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    canvas[:] = canvas * (1 - alpha) + (a * texture + b * (1 - texture)) * alpha


def _shapes(rng, image: Image.Image) -> None:
    """Boxes, ellipses, polygons and strokes with outlines: edges and corners to stylize."""
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(int(rng.integers(2, 9))):
        x0, y0 = rng.uniform(-0.1, 0.9) * width, rng.uniform(-0.1, 0.9) * height
        x1, y1 = x0 + rng.uniform(0.05, 0.5) * width, y0 + rng.uniform(0.05, 0.5) * height
        kind = rng.integers(4)
        outline = _colour(rng, 0, 80) if rng.random() < 0.5 else None
        if kind == 0:
            draw.rectangle([x0, y0, x1, y1], fill=_colour(rng), outline=outline, width=2)
        elif kind == 1:
            draw.ellipse([x0, y0, x1, y1], fill=_colour(rng), outline=outline, width=2)
        elif kind == 2:
            points = [(float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))) for _ in range(int(rng.integers(3, 7)))]
            draw.polygon(points, fill=_colour(rng), outline=outline)
        else:
            draw.line([(x0, y0), (x1, y1)], fill=_colour(rng), width=int(rng.integers(1, 8)))


def make_picture(seed: int, size_px: int) -> Image.Image:
    """One random composition: background, textured regions, spheres and shapes in random order, then a soft blur."""
    rng = np.random.default_rng(seed)
    canvas = _gradient(rng, size_px, size_px)
    if rng.random() < 0.6:  # a horizon: ground below, sky above
        horizon = int(rng.uniform(0.3, 0.8) * size_px)
        canvas[horizon:] = _gradient(rng, size_px, size_px - horizon)
    for _ in range(int(rng.integers(0, 3))):
        _textured_region(rng, canvas)
    for _ in range(int(rng.integers(0, 4))):
        _sphere(rng, canvas)
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    _shapes(rng, image)
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.5))))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="out/training_content", help="folder for the PNGs")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--size", type=int, default=256, help="side of each square picture in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(args.count):
        make_picture(args.seed * 1_000_003 + index, args.size).save(folder / f"content_{index:04d}.png")
    print(f"wrote {args.count} pictures of {args.size} px to {folder}")


if __name__ == "__main__":
    main()
