"""The panels: styles and settings in Render properties, per-object styles in Object properties, the style
library with thumbnails, the texture panel in the Shader Editor's sidebar, and the preferences' layout.
"""

from __future__ import annotations

import bpy

from . import library
from .images import is_data_image
from .operators import active_run
from .properties import object_settings, scene_settings
from .texture_operator import draw_texture_settings


class NST_UL_styles(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.prop(item, "filepath", text="") if item.image is None else row.label(text=item.image.name, icon="IMAGE")
        row.prop(item, "weight", text="")
        if item.filepath and not item.licence and item.image is None:
            row.label(text="", icon="ERROR")


def draw_progress(layout, settings) -> None:
    if active_run() is not None:
        layout.progress(factor=settings.progress, type="BAR", text=settings.status or "working")
        layout.operator("nst.cancel", icon="CANCEL")
    elif settings.status:
        layout.label(text=settings.status, icon="INFO")


class NST_PT_render(bpy.types.Panel):
    bl_label = "Neural Style"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"

    def draw(self, context):
        layout = self.layout
        settings = scene_settings(context.scene)
        row = layout.row()
        row.template_list("NST_UL_styles", "", settings, "styles", settings, "active_style_index", rows=2)
        column = row.column(align=True)
        column.operator("nst.add_style", icon="ADD", text="")
        column.operator("nst.remove_style", icon="REMOVE", text="")
        if 0 <= settings.active_style_index < len(settings.styles):
            item = settings.styles[settings.active_style_index]
            layout.prop(item, "image", text="Or Blender Image")
            if item.image is None and not item.licence:
                layout.label(text="No licence recorded for this style", icon="ERROR")
        layout.use_property_split = True
        layout.prop(settings, "strength")
        layout.prop(settings, "keep_shapes")
        layout.prop(settings, "preserve_color")
        layout.prop(settings, "method")
        if settings.method == "FAST":
            layout.prop(settings, "fast_model")
            layout.prop(settings, "train_steps")
            layout.prop(settings, "train_crop_px")
            layout.operator("nst.train_from_scene", icon="EXPERIMENTAL")
        layout.prop(settings, "preset", expand=True)
        if settings.preset == "PREVIEW":
            layout.prop(settings, "preview_size_px")
            layout.prop(settings, "preview_iterations")
        else:
            layout.prop(settings, "final_size_px")
            layout.prop(settings, "final_iterations")
        layout.prop(settings, "seed")
        layout.prop(settings, "use_last_render")
        layout.operator("nst.stylize_render", icon="RENDER_STILL")
        layout.separator()
        layout.prop(settings, "output_folder")
        layout.prop(settings, "overwrite")
        layout.prop(settings, "temporal")
        if settings.temporal:
            layout.prop(settings, "temporal_weight")
        layout.operator("nst.stylize_animation", icon="RENDER_ANIMATION")
        draw_progress(layout, settings)
        if settings.render_changes:
            box = layout.box()
            box.label(text="Changed in your render settings:", icon="MODIFIER")
            for change in settings.render_changes.split("; "):
                box.label(text=change)


class NST_PT_library(bpy.types.Panel):
    bl_label = "Style Library"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_parent_id = "NST_PT_render"
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


class NST_PT_object(bpy.types.Panel):
    bl_label = "Neural Style"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
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
        draw_texture_settings(layout, context.scene)
        layout.prop(scene_settings(context.scene), "relink_texture")
        layout.operator("nst.stylize_texture", icon="TEXTURE")
        draw_progress(layout, scene_settings(context.scene))


def draw_preferences(prefs, layout) -> None:
    layout.use_property_split = True
    layout.prop(prefs, "engine_python_mode")
    if prefs.engine_python_mode == "CUSTOM":
        layout.prop(prefs, "engine_python")
    layout.prop(prefs, "device")
    layout.prop(prefs, "weights")
    if prefs.weights == "FILE":
        layout.prop(prefs, "weights_file")
    layout.prop(prefs, "cache_folder")
    layout.prop(prefs, "models_folder")
    layout.prop(prefs, "hang_timeout_s")
    row = layout.row()
    row.operator("nst.check_engine", icon="CHECKMARK")
    row.operator("nst.install_engine", icon="IMPORT")
    if prefs.engine_report:
        layout.label(text=prefs.engine_report, icon="INFO")


CLASSES = (NST_UL_styles, NST_PT_render, NST_PT_library, NST_PT_object, NST_PT_texture)
