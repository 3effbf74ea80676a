"""How the scene's textures are stylized (`scene.nst_texture`; Shader Editor > sidebar > Neural Style)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty


class NST_TextureSettings(bpy.types.PropertyGroup):
    """Flat (optionally seamless, optionally only inside the UV islands) or from views of the object."""

    mode: EnumProperty(  # type: ignore[valid-type]
        name="Mode",
        items=[("FLAT", "Flat", "Stylize the texture as a picture"),
               ("VIEWS", "From Views", "Optimize the texture so the object looks painted from every view "
                                       "(renders views with the UV pass)")],
        default="FLAT")
    seamless: BoolProperty(  # type: ignore[valid-type]
        name="Seamless", default=False,
        description="Keep a tileable texture tileable: the style wraps around the texture's borders")
    islands_only: BoolProperty(  # type: ignore[valid-type]
        name="Only UV Islands", default=False,
        description="Change only the texels inside the object's UV islands (and a few texels of padding around them)")
    view_source: EnumProperty(  # type: ignore[valid-type]
        name="Views",
        items=[("ORBIT", "Orbit", "Cameras evenly around the object, alternately above and below it"),
               ("CAMERAS", "Selected Cameras", "The selected camera objects")],
        default="ORBIT")
    view_count: IntProperty(name="Orbit Views", default=6, min=1, max=32)  # type: ignore[valid-type]
    view_size_px: IntProperty(  # type: ignore[valid-type]
        name="View Size", default=256, min=32, max=2048, subtype="PIXEL",
        description="Width and height of each rendered view")
    view_samples: IntProperty(name="View Samples", default=16, min=1, max=1024)  # type: ignore[valid-type]


def texture_settings(scene: bpy.types.Scene) -> NST_TextureSettings:
    """The scene's texture settings (`scene.nst_texture`, added at registration)."""
    return getattr(scene, "nst_texture")
