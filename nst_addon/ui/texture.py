"""Shader Editor > sidebar > Neural Style: the selected Image Texture's stylization settings and button."""

from __future__ import annotations

import bpy

from ..images import is_data_image
from ..property_groups.objects import object_settings
from ..property_groups.scene import scene_settings
from ..property_groups.texture import texture_settings
from .panel import draw_progress


def draw_texture_settings(layout: bpy.types.UILayout, scene: bpy.types.Scene, ob: bpy.types.Object | None) -> None:
    """Flat (seamless, islands only) or from views (which views, their size and samples, and the Keep Shapes they
    use: `ob`'s own when it has one, else the scene's)."""
    texture = texture_settings(scene)
    layout.prop(texture, "mode", expand=True)
    if texture.mode == "FLAT":
        layout.prop(texture, "seamless")
        layout.prop(texture, "islands_only")
        return
    layout.prop(texture, "view_source")
    column = layout.column(align=True)
    if texture.view_source == "ORBIT":
        column.prop(texture, "view_count")
    column.prop(texture, "view_size_px")
    column.prop(texture, "view_samples")
    if ob is not None and object_settings(ob).own_keep_shapes:
        layout.prop(object_settings(ob), "keep_shapes", text=f"Keep Shapes ({ob.name})")
    else:
        layout.prop(scene_settings(scene), "keep_shapes")


class NST_PT_texture(bpy.types.Panel):
    bl_label = "Neural Style"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Neural Style"

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == "ShaderNodeTree"

    def draw(self, context):
        layout = self.layout
        node = context.active_node
        if node is None or node.bl_idname != "ShaderNodeTexImage" or node.image is None:
            layout.label(text="Select an Image Texture node")
            return
        if is_data_image(node.image):
            layout.label(text=f"'{node.image.name}' is Non-Color data", icon="ERROR")
            return
        draw_texture_settings(layout, context.scene, context.object)
        layout.prop(scene_settings(context.scene), "relink_texture")
        layout.operator("nst.stylize_texture", icon="TEXTURE")
        draw_progress(layout, scene_settings(context.scene))
