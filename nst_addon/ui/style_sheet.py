"""Render properties > Neural Style > Style Sheet: the tile size, Make Style Sheet, and a Use button per tile."""

from __future__ import annotations

from ..property_groups.scene import scene_settings
from ..property_groups.style_sheet import sheet_settings
from .panel import RenderSubpanel


class NST_PT_style_sheet(RenderSubpanel):
    bl_label = "Style Sheet"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        sheet = sheet_settings(context.scene)
        row = layout.row(align=True)
        row.prop(sheet, "tile_px")
        row.operator("nst.style_sheet", icon="IMGDISPLAY")
        if sheet.tiles:
            layout.operator("nst.pick_on_sheet", icon="EYEDROPPER")
        current = {item.filepath for item in scene_settings(context.scene).styles}
        for tile in sheet.tiles:
            row = layout.row()
            row.label(text=tile.name, icon="CHECKMARK" if tile.style_path in current else "BLANK1")
            row.operator("nst.pick_sheet_tile", text="Use").name = tile.name
