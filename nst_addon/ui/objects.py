"""Object properties > Neural Style: the object's own style, or kept as rendered, and its own Keep Shapes."""

from __future__ import annotations

from ..property_groups.objects import object_settings
from .panel import PropertiesPanel


class NST_PT_object(PropertiesPanel):
    bl_label = "Neural Style"
    bl_context = "object"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        settings = object_settings(context.object)
        layout.prop(settings, "mode")
        if settings.mode == "OWN":
            layout.prop(settings, "style_path")
            layout.prop(settings, "strength")
        layout.prop(settings, "own_keep_shapes")
        if settings.own_keep_shapes:
            layout.prop(settings, "keep_shapes")
        if settings.mode != "INHERIT" or settings.own_keep_shapes:
            layout.label(text=f"Masked through the Object Index pass (pass index {context.object.pass_index})")
