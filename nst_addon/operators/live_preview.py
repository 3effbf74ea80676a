"""Refresh Live Preview: one round now, for scripts and background mode, where the preview's timer does not run."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty

from .. import preview
from ..property_groups.live_preview import live_settings
from ..worker_client import AddonError


class NST_OT_live_preview_step(bpy.types.Operator):
    """Do one Live Preview round now: render, stylize and show it (for scripts and background mode, where timers do
    not run)"""

    bl_idname = "nst.live_preview_step"
    bl_label = "Refresh Live Preview"

    wait: BoolProperty(  # type: ignore[valid-type]
        name="Wait", default=True, options={"SKIP_SAVE"},
        description="Wait for the stylized image; off = render and send the request only")

    def execute(self, context):
        scene = context.scene
        if not live_settings(scene).enabled:
            self.report({"ERROR"}, "Live Preview is off; turn it on in the Neural Style panel first")
            return {"CANCELLED"}
        try:
            preview.state().mark_changed()
            preview.advance(scene, context, force=True)
            if self.wait:
                preview.wait_for_rounds(scene, context)
        except AddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}
