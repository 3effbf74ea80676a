"""What the add-on's panels share: where they sit, and the progress of the running job with its Cancel button."""

from __future__ import annotations

import bpy

from ..operators.runner import active_run
from ..property_groups.scene import NST_SceneSettings


class PropertiesPanel(bpy.types.Panel):
    """A panel of the Properties editor; `bl_context` says which tab (render unless a panel says otherwise)."""

    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"


class RenderSubpanel(PropertiesPanel):
    """A sub-panel of Render properties > Neural Style."""

    bl_parent_id = "NST_PT_render"


def draw_progress(layout: bpy.types.UILayout, settings: NST_SceneSettings) -> None:
    """The running job's bar and Cancel button; when none runs, how the last one ended."""
    if active_run() is not None:
        layout.progress(factor=settings.progress, type="BAR", text=settings.status or "working")
        layout.operator("nst.cancel", icon="CANCEL")
    elif settings.status:
        layout.label(text=settings.status, icon="INFO")
