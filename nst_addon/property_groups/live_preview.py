"""The scene's Live Preview settings (`scene.nst_live`): on or off, the preview's size and render engine, and the
figures of the last round. Turning `enabled` on or off starts or stops the preview (see preview.py)."""

from __future__ import annotations

from typing import Callable

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

# Set by nst_addon.viewport_overlay when it registers: starts or stops drawing the preview in the 3D viewport
VIEWPORT_TOGGLED: Callable[[bpy.types.Scene, bool], None] | None = None
# Set by nst_addon.preview when it registers: whether a scene's preview runs, and starting or stopping it
PREVIEW_RUNNING: Callable[[bpy.types.Scene], bool] | None = None
PREVIEW_TURNED: Callable[[bpy.types.Scene, bool], None] | None = None


def _is_on(self) -> bool:
    return PREVIEW_RUNNING is not None and PREVIEW_RUNNING(self.id_data)


def _turn(self, value: bool) -> None:
    if PREVIEW_TURNED is not None:
        PREVIEW_TURNED(self.id_data, value)


def _viewport_changed(self, context) -> None:
    if VIEWPORT_TOGGLED is not None:
        VIEWPORT_TOGGLED(self.id_data, self.viewport)


class NST_LivePreviewSettings(bpy.types.PropertyGroup):
    enabled: BoolProperty(  # type: ignore[valid-type]
        name="Live Preview", get=_is_on, set=_turn,
        description="Render a small preview from the active camera after each change and stylize it with the "
                    "scene's styles (any-style network); the result is the image 'NST Live Preview'")
    viewport: BoolProperty(  # type: ignore[valid-type]
        name="In Viewport", default=False, update=_viewport_changed,
        description="Draw the newest Live Preview over the 3D viewport's camera view, in the camera frame (turns the "
                    "Live Preview on)")
    viewport_layout: EnumProperty(  # type: ignore[valid-type]
        name="Layout",
        items=[("OVER", "Over", "The preview covers the camera frame, with the opacity below"),
               ("SPLIT", "Split", "Stylized on the left of the split, the viewport on the right"),
               ("SIDE", "Side by Side", "The preview beside the camera frame, at the same size")],
        default="OVER")
    viewport_opacity: FloatProperty(  # type: ignore[valid-type]
        name="Opacity", default=1.0, min=0.0, max=1.0, subtype="FACTOR")
    viewport_split: FloatProperty(  # type: ignore[valid-type]
        name="Split", default=0.5, min=0.0, max=1.0, subtype="FACTOR",
        description="Split layout: where the stylized part ends, across the camera frame")
    width_px: IntProperty(name="Width", default=480, min=16, max=4096, subtype="PIXEL")  # type: ignore[valid-type]
    height_px: IntProperty(name="Height", default=270, min=16, max=4096, subtype="PIXEL")  # type: ignore[valid-type]
    engine: EnumProperty(  # type: ignore[valid-type]
        name="Render Engine",
        items=[("BLENDER_WORKBENCH", "Workbench", "Solid shading: fastest, always interactive"),
               ("BLENDER_EEVEE", "EEVEE", "Materials and lights as in EEVEE; needs a GPU to be quick"),
               ("CYCLES", "Cycles", "Path traced with the few samples below")],
        default="BLENDER_WORKBENCH")
    samples: IntProperty(  # type: ignore[valid-type]
        name="Samples", default=4, min=1, max=256, description="Samples of the preview render (Cycles and EEVEE)")
    latency_ms: FloatProperty(name="Latency", default=0.0, subtype="TIME_ABSOLUTE")  # type: ignore[valid-type]
    render_ms: FloatProperty(name="Render", default=0.0)  # type: ignore[valid-type]
    stylize_ms: FloatProperty(name="Stylize", default=0.0)  # type: ignore[valid-type]
    status: StringProperty(name="Status", default="")  # type: ignore[valid-type]


def live_settings(scene: bpy.types.Scene) -> NST_LivePreviewSettings:
    """The scene's Live Preview settings (`scene.nst_live`, added at registration)."""
    return getattr(scene, "nst_live")
