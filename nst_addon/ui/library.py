"""Render properties > Neural Style > Style Library: the library's paintings with thumbnails and licences."""

from __future__ import annotations

from .. import library
from .panel import RenderSubpanel


class NST_PT_library(RenderSubpanel):
    bl_label = "Style Library"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        flow = self.layout.grid_flow(columns=2, even_columns=True)
        for style in library.library_styles():
            box = flow.box()
            box.template_icon(icon_value=library.thumbnail(style), scale=5.0)
            box.label(text=style.name)
            if style.artist:
                box.label(text=style.artist)
            if style.licence_known:
                box.label(text=style.licence, icon="CHECKMARK")
            else:
                box.label(text="No licence recorded", icon="ERROR")
            add = box.operator("nst.add_style", text="Use", icon="ADD")
            add.filepath, add.licence = str(style.path), style.licence
