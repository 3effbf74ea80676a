"""Contact sheets for the evidence scripts: pictures (float arrays or Pillow images) scaled, captioned and joined
into rows and columns on white, then saved. Every script's sheet is built from these few pieces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

GAP_PX = 4


def picture(image) -> Image.Image:
    """An RGB Pillow image from a float array in 0..1 (H x W x 3) or a Pillow image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    return Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)).convert("RGB")


def fit(image, height: int | None = None, size: tuple[int, int] | None = None) -> Image.Image:
    """The picture scaled (Lanczos) to `height` px with its aspect ratio kept, or to `size` (width, height)."""
    tile = picture(image)
    if size is None:
        size = (round(tile.width * height / tile.height), height)
    return tile.resize(size, Image.LANCZOS)


def caption(image, text: str, strip_px: int = 22, font=None, left: bool = False) -> Image.Image:
    """The picture with `text` in a white strip `strip_px` px high above it (or wide, on its left)."""
    tile = picture(image)
    if left:
        out = Image.new("RGB", (tile.width + strip_px, tile.height), "white")
        out.paste(tile, (strip_px, 0))
        ImageDraw.Draw(out).text((6, tile.height // 2 - 6), text, fill="black", font=font)
    else:
        out = Image.new("RGB", (tile.width, tile.height + strip_px), "white")
        out.paste(tile, (0, strip_px))
        ImageDraw.Draw(out).text((4, max(0, strip_px // 2 - 7)), text, fill="black", font=font)
    return out


def join(images, gap_px: int = GAP_PX, vertical: bool = False) -> Image.Image:
    """The pictures side by side, top-aligned (or stacked, left-aligned), `gap_px` of white between them."""
    tiles = [picture(i) for i in images]
    if vertical:
        out = Image.new("RGB", (max(t.width for t in tiles), sum(t.height for t in tiles) + gap_px * (len(tiles) - 1)),
                        "white")
    else:
        out = Image.new("RGB", (sum(t.width for t in tiles) + gap_px * (len(tiles) - 1), max(t.height for t in tiles)),
                        "white")
    offset = 0
    for tile in tiles:
        out.paste(tile, (0, offset) if vertical else (offset, 0))
        offset += (tile.height if vertical else tile.width) + gap_px
    return out


def save(sheet: Image.Image, path: Path, quality: int = 88) -> Path:
    """Write the sheet (JPEG at `quality`, or by the file's extension), creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=quality)
    return path
