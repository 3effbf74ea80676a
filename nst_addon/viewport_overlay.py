"""The Live Preview in the 3D viewport: while `scene.nst_live.viewport` is on, the newest stylized preview (the image
"NST Live Preview") is drawn over the camera view, inside the camera frame: over it with an opacity, split with the
viewport, or beside the frame.

A POST_PIXEL draw handler on SpaceView3D draws the preview image's GPU texture and never waits on anything: the
Live Preview's own timer renders and stylizes. A timer here notices each new result (the image's `nst_sequence`)
and redraws the 3D views. Turning the overlay on turns the Live Preview on. `draw_preview` is the drawing itself,
which tests/blender/test_viewport_overlay.py runs off-screen (bpy as a module has no 3D view to draw into).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bpy
import gpu
from bpy_extras import view3d_utils
from gpu_extras.batch import batch_for_shader

from . import preview
from .property_groups import live_preview as live_hooks
from .property_groups.live_preview import live_settings

TICK_S = 0.1
SIDE_GAP_PX = 8

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1: region pixels, or texture coordinates


@dataclass
class OverlayState:
    handler: Any = None  # the SpaceView3D draw handler while the overlay is on
    sequence: int = -1  # the preview round the 3D views were last redrawn for


_overlay = OverlayState()


def state() -> OverlayState:
    return _overlay


def overlay_rects(frame: Rect, layout: str, split: float) -> list[tuple[Rect, Rect]]:
    """Where the preview goes for the camera frame `frame` (region pixels): (screen rectangle, texture rectangle)
    pairs. OVER covers the frame; SPLIT shows the stylized left part up to `split`, the viewport on the right;
    SIDE draws it at the same size right of the frame."""
    x0, y0, x1, y1 = frame
    if layout == "SPLIT":
        cut = x0 + (x1 - x0) * split
        return [((x0, y0, cut, y1), (0.0, 0.0, split, 1.0))]
    if layout == "SIDE":
        left = x1 + SIDE_GAP_PX
        return [((left, y0, left + (x1 - x0), y1), (0.0, 0.0, 1.0, 1.0))]
    return [(frame, (0.0, 0.0, 1.0, 1.0))]


def camera_frame_px(scene: bpy.types.Scene, region: Any, region_3d: Any) -> Rect | None:
    """The active camera's frame in the region's pixels, or None when a corner is behind the view."""
    camera = scene.camera
    corners = [camera.matrix_world @ corner for corner in camera.data.view_frame(scene=scene)]
    points = [view3d_utils.location_3d_to_region_2d(region, region_3d, corner) for corner in corners]
    if any(point is None for point in points):
        return None
    xs, ys = [point.x for point in points], [point.y for point in points]
    return min(xs), min(ys), max(xs), max(ys)


def _draw() -> None:
    """Draw the newest preview in this 3D view's camera frame (camera views only; nothing else is touched)."""
    context = bpy.context
    scene, region, region_3d = context.scene, context.region, context.region_data
    if scene is None:
        return
    live = live_settings(scene)
    image = bpy.data.images.get(preview.PREVIEW_IMAGE)
    if (not live.viewport or image is None or scene.camera is None or region_3d is None
            or region_3d.view_perspective != "CAMERA"):
        return
    frame = camera_frame_px(scene, region, region_3d)
    if frame is None:
        return
    draw_preview(gpu.texture.from_image(image), frame, live.viewport_layout, live.viewport_split,
                 live.viewport_opacity)


def draw_preview(texture: Any, frame: Rect, layout: str, split: float, opacity: float) -> None:
    """Draw `texture` for the camera frame `frame` in the bound framebuffer's pixel space."""
    shader = gpu.shader.from_builtin("IMAGE_COLOR")
    gpu.state.blend_set("ALPHA")
    for (x0, y0, x1, y1), (u0, v0, u1, v1) in overlay_rects(frame, layout, split):
        batch = batch_for_shader(shader, "TRI_STRIP", {"pos": [(x0, y0), (x1, y0), (x0, y1), (x1, y1)],
                                                     "texCoord": [(u0, v0), (u1, v0), (u0, v1), (u1, v1)]})
        shader.bind()
        shader.uniform_sampler("image", texture)
        shader.uniform_float("color", (1.0, 1.0, 1.0, opacity))
        batch.draw(shader)
    gpu.state.blend_set("NONE")


def shown_sequence() -> int:
    """The preview round the image holds now (-1 before the first)."""
    image = bpy.data.images.get(preview.PREVIEW_IMAGE)
    return int(image.get("nst_sequence", -1)) if image is not None else -1


def _tick() -> float | None:
    """While the overlay is on: a new preview result redraws the 3D views (never waits)."""
    if _overlay.handler is None:
        return None
    sequence = shown_sequence()
    if sequence != _overlay.sequence:
        _overlay.sequence = sequence
        window_manager = getattr(bpy.context, "window_manager", None)
        for window in window_manager.windows if window_manager is not None else ():
            for area in window.screen.areas:
                if area.type == "VIEW_3D":
                    area.tag_redraw()
    return TICK_S


def turn(scene: bpy.types.Scene, on: bool) -> None:
    """The toggle: on starts the Live Preview (if it is off) and the drawing; off stops the drawing only."""
    if on:
        if not preview.is_running(scene):
            preview.turn(scene, True)
        if _overlay.handler is None:
            _overlay.handler = bpy.types.SpaceView3D.draw_handler_add(_draw, (), "WINDOW", "POST_PIXEL")
        if not bpy.app.timers.is_registered(_tick):
            bpy.app.timers.register(_tick, first_interval=TICK_S)
    else:
        stop()


def stop() -> None:
    if _overlay.handler is not None:
        bpy.types.SpaceView3D.draw_handler_remove(_overlay.handler, "WINDOW")
        _overlay.handler = None
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    _overlay.sequence = -1


def register() -> None:
    live_hooks.VIEWPORT_TOGGLED = turn


def unregister() -> None:
    stop()
    live_hooks.VIEWPORT_TOGGLED = None
