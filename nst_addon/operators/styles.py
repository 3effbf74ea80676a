"""The scene's style list: add a style image, remove the selected one."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, StringProperty

from ..property_groups.scene import scene_settings


class NST_OT_add_style(bpy.types.Operator):
    """Add a style image to the scene's styles"""

    bl_idname = "nst.add_style"
    bl_label = "Add Style"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(subtype="FILE_PATH")  # type: ignore[valid-type]
    licence: StringProperty(default="")  # type: ignore[valid-type]
    filter_image: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]

    def invoke(self, context, event):
        if self.filepath:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        if not Path(bpy.path.abspath(self.filepath)).is_file():
            self.report({"ERROR"}, f"the style image {self.filepath} does not exist")
            return {"CANCELLED"}
        settings = scene_settings(context.scene)
        item = settings.styles.add()
        item.filepath, item.licence = self.filepath, self.licence
        settings.active_style_index = len(settings.styles) - 1
        return {"FINISHED"}


class NST_OT_remove_style(bpy.types.Operator):
    """Remove the selected style from the scene's styles"""

    bl_idname = "nst.remove_style"
    bl_label = "Remove Style"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = scene_settings(context.scene)
        if 0 <= settings.active_style_index < len(settings.styles):
            settings.styles.remove(settings.active_style_index)
            settings.active_style_index = max(0, settings.active_style_index - 1)
        return {"FINISHED"}
