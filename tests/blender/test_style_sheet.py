"""The Style Sheet in the real Blender: the frame rendered once and stylized with every painting of the style library
(any-style network), one labelled tile each in the image "NST Style Sheet"; picking a tile sets the scene's style.
"""

from __future__ import annotations

import itertools
import sys

import bpy
import numpy as np
import pytest
from blender_kit import ADDON, pixels

from engine.anystyle.sheet import LABEL_PX

pytestmark = pytest.mark.blender
TILE_PX = 96


def _module(name: str):
    return sys.modules[f"{ADDON}.nst_addon.{name}"]


def test_style_sheet_has_a_labelled_tile_per_library_style_and_picking_one_sets_the_style(tiny_scene):
    styles = _module("library").library_styles()
    assert len(styles) >= 4
    tiny_scene.nst_sheet.tile_px = TILE_PX
    assert bpy.ops.nst.style_sheet() == {"FINISHED"}
    sheet = pixels(bpy.data.images["NST Style Sheet"])[::-1, :, :3]  # rows top to bottom, as the boxes count them
    tiles = tiny_scene.nst_sheet.tiles
    assert [(tile.name, tile.style_path) for tile in tiles] == [(style.name, str(style.path)) for style in styles]
    assert all(tile.licence == style.licence for tile, style in zip(tiles, styles))

    pictures, labels = [], []
    for tile in tiles:
        x, y, width, height = tile.box
        assert max(width, height) == TILE_PX and y + height + LABEL_PX <= sheet.shape[0]
        pictures.append(sheet[y:y + height, x:x + width])
        labels.append(sheet[y + height:y + height + LABEL_PX, x:x + width].mean(-1) < 0.5)  # dark text on white
    assert all(label.sum() > 30 for label in labels), "every tile is titled"
    for (a, b), (la, lb) in zip(itertools.combinations(pictures, 2), itertools.combinations(labels, 2)):
        assert np.abs(a - b).mean() > 0.03, "each painting gives its own picture"
        assert (la != lb).sum() > 30, "each tile has its own title"

    # a click on the sheet: the tile under it, none on the original or a gap
    style_sheet = _module("property_groups.style_sheet")
    for tile in tiles:
        x, y, width, height = tile.box
        assert style_sheet.tile_at(tiny_scene.nst_sheet, x + width / 2, y + height / 2).name == tile.name
    assert style_sheet.tile_at(tiny_scene.nst_sheet, 2, 2) is None
    assert style_sheet.tile_at(tiny_scene.nst_sheet, 8 + TILE_PX / 2, 8 + 10) is None  # the original, top left

    chosen = tiles[2]
    assert bpy.ops.nst.pick_sheet_tile(name=chosen.name) == {"FINISHED"}
    assert [(item.filepath, item.licence) for item in tiny_scene.nst.styles] == [(chosen.style_path, styles[2].licence)]
    with pytest.raises(RuntimeError, match="the style sheet has no tile 'Mona Lisa'; make the style sheet again"):
        bpy.ops.nst.pick_sheet_tile(name="Mona Lisa")


def test_a_library_painting_that_is_not_an_image_is_one_clear_error_and_no_sheet(tiny_scene):
    broken = _module("preferences").user_folder("styles") / "torn_canvas.jpg"
    broken.write_bytes(b"not a JPEG at all")
    if "NST Style Sheet" in bpy.data.images:
        bpy.data.images.remove(bpy.data.images["NST Style Sheet"])
    try:
        with pytest.raises(RuntimeError, match="style image 'torn_canvas'.*torn_canvas.jpg") as raised:
            bpy.ops.nst.style_sheet()
    finally:
        broken.unlink()
    assert "Traceback" not in str(raised.value) and len(str(raised.value).strip().splitlines()) == 1
    assert "NST Style Sheet" not in bpy.data.images
