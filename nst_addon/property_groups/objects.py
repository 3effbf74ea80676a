"""An object's own Neural Style setting (`object.nst`): the scene's style, its own style, or kept as rendered."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty


class NST_ObjectSettings(bpy.types.PropertyGroup):
    mode: EnumProperty(  # type: ignore[valid-type]
        name="Style",
        items=[("INHERIT", "Scene Style", "Use the scene's styles"),
               ("OWN", "Own Style", "Use this object's own style and strength"),
               ("KEEP", "Keep Original", "Leave this object as rendered")],
        default="INHERIT")
    style_path: StringProperty(name="Style Image", subtype="FILE_PATH")  # type: ignore[valid-type]
    strength: FloatProperty(name="Strength", default=1.0, min=0.0, max=1.0,  # type: ignore[valid-type]
                            subtype="FACTOR")
    own_keep_shapes: BoolProperty(  # type: ignore[valid-type]
        name="Own Keep Shapes", default=False,
        description="Give this object its own Keep Shapes instead of the scene's (through the Object Index pass)")
    keep_shapes: FloatProperty(  # type: ignore[valid-type]
        name="Keep Shapes", default=0.5, min=0.0, max=1.0, subtype="FACTOR",
        description="This object's Keep Shapes: how firmly its silhouette and edges are held (0 = off)")


def object_settings(ob: bpy.types.Object) -> NST_ObjectSettings:
    """The object's own style setting (`object.nst`)."""
    return getattr(ob, "nst")
