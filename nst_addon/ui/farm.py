"""Render properties > Neural Style > Submit to Farm: the farm, the chunks, the workers, and the submit buttons."""

from __future__ import annotations

import bpy

from ..property_groups.farm import farm_settings
from .panel import RenderSubpanel


class NST_PT_farm(RenderSubpanel):
    bl_label = "Submit to Farm"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        farm = farm_settings(context.scene)
        layout.prop(farm, "target")
        layout.prop(farm, "manager_url" if farm.target == "FLAMENCO" else "bundle_folder")
        layout.prop(farm, "chunk_size")
        layout.prop(farm, "chunking")
        if farm.chunking in ("overlap", "anchors"):
            layout.prop(farm, "warmup")
        if farm.chunking == "anchors":
            layout.prop(farm, "keyframes")
        layout.prop(farm, "priority")
        layout.prop(farm, "fps")
        workers = layout.column(heading="Workers")
        if farm.target == "OPENJD":
            workers.prop(farm, "worker_command")
            if farm.worker_command == "BLENDER":
                workers.prop(farm, "worker_blender")
        workers.prop(farm, "worker_python")
        workers.prop(farm, "worker_code_folder")
        row = layout.row()
        if farm.target == "FLAMENCO":
            row.operator("nst.farm_submit", icon="EXPORT")
            row.operator("nst.farm_export_flamenco", icon="FILE")
            if not bpy.app.online_access:
                layout.label(text="Offline: allow online access in Preferences > System to submit", icon="ERROR")
        else:
            row.operator("nst.farm_submit", text="Export Job Bundle", icon="EXPORT")
        if farm.status:
            layout.label(text=farm.status, icon="INFO")
