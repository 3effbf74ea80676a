"""Mix Stylized in Compositor: NST Mix in the scene's compositor, reading the current frame's compositor layers."""

from __future__ import annotations

import bpy

from ..compositor import MIX_GROUP, mix_layers
from ..stylize_on_render import layers_path
from ..worker_client import AddonError


class NST_OT_add_mix_node(bpy.types.Operator):
    """Add the NST Mix node group to the scene's compositor, reading the current frame's compositor layers"""

    bl_idname = "nst.add_mix_node"
    bl_label = "Mix Stylized in Compositor"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        try:
            mix_layers(context.scene, layers_path(context.scene, context.scene.frame_current),
                       context.view_layer.name)
        except AddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"added '{MIX_GROUP}' to the compositor: Factor 0 is raw, 1 stylized; plug an "
                              "object's mask into Mask")
        return {"FINISHED"}
