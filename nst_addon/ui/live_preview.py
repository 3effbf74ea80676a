"""Render properties > Neural Style > Live Preview: on or off in its header, the preview's size and engine, the
3D viewport overlay, and the latency of the last round."""

from __future__ import annotations

from ..property_groups.live_preview import live_settings
from .panel import RenderSubpanel


class NST_PT_live_preview(RenderSubpanel):
    bl_label = "Live Preview"

    def draw_header(self, context):
        self.layout.prop(live_settings(context.scene), "enabled", text="")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        live = live_settings(context.scene)
        column = layout.column(align=True)
        column.prop(live, "width_px", text="Size X")
        column.prop(live, "height_px", text="Y")
        layout.prop(live, "engine")
        if live.engine != "BLENDER_WORKBENCH":
            layout.prop(live, "samples")
        layout.prop(live, "viewport")
        if live.viewport:
            layout.prop(live, "viewport_layout")
            layout.prop(live, "viewport_split" if live.viewport_layout == "SPLIT" else "viewport_opacity")
        if live.enabled and live.latency_ms > 0:
            layout.label(text=f"Latency {live.latency_ms:.0f} ms (render {live.render_ms:.0f} ms, stylize "
                              f"{live.stylize_ms:.0f} ms)", icon="TIME")
        if live.status:
            layout.label(text=live.status, icon="INFO")
        if live.enabled:
            layout.operator("nst.live_preview_step", icon="FILE_REFRESH")
