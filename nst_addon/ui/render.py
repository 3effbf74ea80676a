"""Render properties > Neural Style: the style list, the settings, Stylize Render and Stylize Animation."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..property_groups.scene import scene_settings, tuned_model_names
from .panel import PropertiesPanel, draw_progress


class NST_UL_styles(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.prop(item, "filepath", text="") if item.image is None else row.label(text=item.image.name, icon="IMAGE")
        row.prop(item, "weight", text="")
        if item.filepath and not item.licence and item.image is None:
            row.label(text="", icon="ERROR")
        if item.image is None and item.filepath and Path(item.filepath).stem in tuned_model_names():
            row.label(text="", icon="SHADERFX")  # tuned: Fast mode, the Live Preview and the Style Sheet use it


class NST_PT_render(PropertiesPanel):
    bl_label = "Neural Style"

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
            if item.image is None and item.filepath and Path(item.filepath).stem in tuned_model_names():
                layout.label(text=f"Tuned: the Fast method uses the model '{Path(item.filepath).stem}'",
                             icon="SHADERFX")
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
            layout.prop(settings, "tune_minutes")
            layout.prop(settings, "tune_keyframes")
            row = layout.row(align=True)
            row.operator("nst.tune_to_painting", icon="BRUSH_DATA")
            row.operator("nst.tune_to_shot", icon="SEQUENCE")
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
        layout.prop(settings, "stylize_on_render")
        if settings.stylize_on_render:
            layout.prop(settings, "compositor_layers")
            layout.operator("nst.add_mix_node", icon="NODE_COMPOSITING")
        draw_progress(layout, settings)
        if settings.render_changes:
            box = layout.box()
            box.label(text="Changed in your render settings:", icon="MODIFIER")
            for change in settings.render_changes.split("; "):
                box.label(text=change)
