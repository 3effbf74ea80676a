"""The scene's Style Sheet (`scene.nst_sheet`): the tile size asked for and the tiles of the last sheet made."""

from __future__ import annotations

import bpy
from bpy.props import CollectionProperty, IntProperty, IntVectorProperty, StringProperty


class NST_SheetTile(bpy.types.PropertyGroup):
    """One tile of the sheet: the painting's title (`name`), its file and licence, and where the tile is."""

    style_path: StringProperty(name="Style", subtype="FILE_PATH")  # type: ignore[valid-type]
    licence: StringProperty(name="Licence")  # type: ignore[valid-type]
    box: IntVectorProperty(  # type: ignore[valid-type]
        name="Box", size=4, description="Left, top, width, height in the sheet, in pixels")


class NST_StyleSheetSettings(bpy.types.PropertyGroup):
    tile_px: IntProperty(  # type: ignore[valid-type]
        name="Tile Size", default=512, min=64, max=2048, subtype="PIXEL",
        description="Longest side of each stylized tile in the sheet")
    tiles: CollectionProperty(type=NST_SheetTile)  # type: ignore[valid-type]


def sheet_settings(scene: bpy.types.Scene) -> NST_StyleSheetSettings:
    """The scene's Style Sheet (`scene.nst_sheet`, added at registration)."""
    return getattr(scene, "nst_sheet")


def tile_at(sheet: NST_StyleSheetSettings, x_px: float, y_px: float) -> NST_SheetTile | None:
    """The tile whose picture holds a point of the sheet (pixels from its top left corner), or None."""
    return next((tile for tile in sheet.tiles if tile.box[0] <= x_px < tile.box[0] + tile.box[2]
                 and tile.box[1] <= y_px < tile.box[1] + tile.box[3]), None)
