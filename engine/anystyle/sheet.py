"""Style sheet: one picture stylized with every painting of a style library by the any-style network (or by the
painting's tuned model, one named like its file in the model folders), laid out as a labelled contact sheet, with
each tile's box and painting so a click on the sheet can pick a style.

`make_sheet` is used by `python -m engine sheet` (engine/cli/sheet.py), the worker and Blender's "NST Style Sheet".
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..runtime.cache import USER_CACHE, CacheDir
from ..runtime.errors import EngineError

LIBRARY_DIR = Path(__file__).resolve().parents[2] / "styles"
LIBRARY_FILE = "library.json"
STYLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".exr", ".webp", ".bmp")
TILE_PX = 512  # longest side of each tile unless asked
LABEL_PX = 26  # the title strip under each tile
GAP_PX = 8


@dataclass
class LibraryStyle:
    """A painting of the library: its id (file stem unless the library names one), title and file."""

    id: str
    name: str
    path: Path


@dataclass
class SheetTile:
    """Where one painting's result lies on the sheet (pixels, origin top left), and which painting it is."""

    style_id: str
    name: str
    path: str
    x: int
    y: int
    width: int
    height: int

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height + LABEL_PX


@dataclass
class StyleSheet:
    """The sheet (H x W x 3 sRGB in [0, 1]), the original's box, one tile per painting, and the time it took."""

    image: np.ndarray
    original: tuple[int, int, int, int]
    tiles: list[SheetTile]
    elapsed_s: float

    def pick(self, x: float, y: float) -> SheetTile | None:
        """The tile (painting) under a point of the sheet, or None (the original, a gap or a label-less margin)."""
        return next((tile for tile in self.tiles if tile.contains(x, y)), None)


def library_styles(style_dir: Path | str | None = None) -> list[LibraryStyle]:
    """The paintings of a style folder: those its library.json lists (with titles), else every image in it."""
    folder = Path(style_dir) if style_dir is not None else LIBRARY_DIR
    if not folder.is_dir():
        raise EngineError(f"style folder {folder} does not exist; give a folder of paintings")
    listing = folder / LIBRARY_FILE
    if listing.is_file():
        try:
            entries = json.loads(listing.read_text())["styles"]
            styles = [LibraryStyle(str(e.get("id") or Path(e["file"]).stem), str(e.get("name") or e["file"]),
                                   folder / e["file"]) for e in entries]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EngineError(f"{listing} is not a style library (need {{\"styles\": [{{\"file\": ..., \"name\": "
                              f"...}}]}}): {exc.__class__.__name__}; fix or remove it") from None
    else:
        styles = [LibraryStyle(p.stem, p.stem.replace("_", " ").capitalize(), p) for p in sorted(folder.iterdir())
                  if p.suffix.lower() in STYLE_SUFFIXES and not p.name.startswith(".")]
    if not styles:
        raise EngineError(f"style folder {folder} holds no paintings ({', '.join(STYLE_SUFFIXES)}); add some")
    return styles


def label_font(size_px: int):
    """Pillow's default font at a size (its fixed bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size_px)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fit_label(draw: ImageDraw.ImageDraw, text: str, font, width_px: int) -> str:
    if draw.textlength(text, font=font) <= width_px:
        return text
    while text and draw.textlength(text + "…", font=font) > width_px:
        text = text[:-1]
    return text + "…"


def tuned_models() -> dict[str, Path]:
    """The tuned any-style models of the model folders (user first) by name: a painting's file stem picks its own."""
    from ..fast.model_file import TUNED_KIND
    from ..fast.models import list_models

    tuned: dict[str, Path] = {}
    for entry in list_models():
        if entry.info is not None and entry.info.kind == TUNED_KIND:
            tuned.setdefault(entry.name, entry.path)
    return tuned


def make_sheet(content: np.ndarray, styles: list[LibraryStyle], *, size_px: int = TILE_PX,
               columns: int | None = None, device: str = "auto", cache_dir: CacheDir = USER_CACHE,
               callback: Callable[[int, int, str], None] | None = None) -> StyleSheet:
    """Stylize `content` (H x W x 3 sRGB in [0, 1]) with each painting at `size_px` longest side and lay the results
    out after the original, `columns` a row (default: near square), each titled underneath.

    `callback(done, total, name)` is called after each painting.
    """
    import torch

    from ..fast.stylize_fast import get_stylizer
    from ..imageio.images import read_rgb
    from ..imageio.tensors import resize_image, to_numpy, to_tensor
    from . import get_any_stylizer

    if not styles:
        raise EngineError("no paintings for the style sheet; give a style folder with images")
    started = time.perf_counter()
    stylizer = get_any_stylizer(device, cache_dir)
    paintings = [read_rgb(style.path, f"style image '{style.name}'") for style in styles]  # all read before any work
    tuned = tuned_models()
    results = []
    for done, (style, painting) in enumerate(zip(styles, paintings), 1):
        model = tuned.get(Path(style.path).stem)
        if model is None:
            results.append(stylizer.stylize(content, painting, size_px=size_px).image)
        else:
            results.append(get_stylizer(str(model), device).stylize(content, size_px=size_px).image)
        if callback is not None:
            callback(done, len(styles), style.name)
    height, width = results[0].shape[:2]
    original = to_numpy(resize_image(to_tensor(np.asarray(content, np.float32), torch.device("cpu")), height, width))
    count = len(results) + 1
    columns = columns or math.ceil(math.sqrt(count * height / width))
    rows = math.ceil(count / columns)
    sheet = Image.new("RGB", (columns * (width + GAP_PX) + GAP_PX, rows * (height + LABEL_PX + GAP_PX) + GAP_PX),
                      "white")
    draw = ImageDraw.Draw(sheet)
    font = label_font(max(11, min(18, width // 24)))
    boxes = []
    names = [f"{s.name} (tuned)" if Path(s.path).stem in tuned else s.name for s in styles]
    for n, (name, image) in enumerate([("Original", original)] + list(zip(names, results))):
        row, column = divmod(n, columns)
        x, y = GAP_PX + column * (width + GAP_PX), GAP_PX + row * (height + LABEL_PX + GAP_PX)
        sheet.paste(Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)), (x, y))
        draw.text((x + 4, y + height + 4), _fit_label(draw, name, font, width - 8), fill="black", font=font)
        boxes.append((x, y, width, height))
    tiles = [SheetTile(s.id, s.name, str(s.path), *box) for s, box in zip(styles, boxes[1:])]
    return StyleSheet(np.asarray(sheet, np.float32) / 255.0, boxes[0], tiles, time.perf_counter() - started)

