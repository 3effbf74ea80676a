"""The Live Preview in the 3D viewport, in the real Blender: the toggle starts the preview and the draw handler, a
scene change gives the overlay a new stylized texture, the layouts place it in the camera frame, and an off-screen
draw with the add-on's draw code has the preview inside the camera frame. bpy as a module has no 3D view to draw
(no window), so the raw camera view is the preview's own render drawn to fill the off-screen buffer; where bpy has no
GPU context at all, the off-screen test skips with the error.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from blender_kit import ADDON, pixels

import bpy

pytestmark = pytest.mark.blender


def _module(name: str):
    return sys.modules[f"{ADDON}.nst_addon.{name}"]


@pytest.fixture
def overlay(tiny_scene):
    live = tiny_scene.nst_live
    live.width_px, live.height_px, live.engine = 96, 54, "BLENDER_WORKBENCH"
    live.viewport = True
    yield live
    live.viewport = False
    live.enabled = False


def test_the_overlay_starts_the_preview_and_a_change_gives_it_a_new_stylized_texture(tiny_scene, overlay):
    viewport, preview = _module("viewport_overlay"), _module("preview")
    assert overlay.enabled, "turning the overlay on turns the Live Preview on"
    assert viewport.state().handler is not None, "the SpaceView3D draw handler is in"
    assert bpy.ops.nst.live_preview_step() == {"FINISHED"}
    viewport._tick()
    first = viewport.state().sequence
    assert first >= 0, "the overlay has picked up the first result"
    before = pixels(bpy.data.images[preview.PREVIEW_IMAGE]).copy()
    bpy.data.objects["Cube"].location.x += 0.6
    assert bpy.ops.nst.live_preview_step() == {"FINISHED"}
    assert viewport._tick() == viewport.TICK_S
    assert viewport.state().sequence > first, "a scene change is a new texture for the overlay"
    assert np.abs(pixels(bpy.data.images[preview.PREVIEW_IMAGE]) - before).mean() > 1e-3
    overlay.viewport = False
    assert viewport.state().handler is None and viewport._tick() is None


def test_the_layouts_put_the_preview_in_or_beside_the_camera_frame(addon):
    viewport = _module("viewport_overlay")
    frame = (100.0, 50.0, 500.0, 275.0)
    assert viewport.overlay_rects(frame, "OVER", 0.5) == [(frame, (0.0, 0.0, 1.0, 1.0))]
    assert viewport.overlay_rects(frame, "SPLIT", 0.25) == [((100.0, 50.0, 200.0, 275.0), (0.0, 0.0, 0.25, 1.0))]
    ((x0, y0, x1, y1), uv), = viewport.overlay_rects(frame, "SIDE", 0.5)
    assert x0 > frame[2] and (x1 - x0, y1 - y0) == (400.0, 225.0) and uv == (0.0, 0.0, 1.0, 1.0)


def _offscreen_draw(size, background, overlay_texture=None, frame=None, layout="OVER", opacity=1.0):
    """Off-screen: the raw camera view (the preview's render, filling the view) and, given, the overlay drawn by
    the add-on's own draw code into the camera frame `frame`; RGBA pixels, rows bottom to top."""
    import gpu

    width, height = size
    offscreen = gpu.types.GPUOffScreen(width, height)
    try:
        with offscreen.bind():
            framebuffer = gpu.state.active_framebuffer_get()
            framebuffer.clear(color=(0.0, 0.0, 0.0, 1.0))
            with gpu.matrix.push_pop(), gpu.matrix.push_pop_projection():
                gpu.matrix.load_identity()
                gpu.matrix.load_projection_matrix(_pixel_projection(width, height))
                viewport = _module("viewport_overlay")
                viewport.draw_preview(background, (0, 0, width, height), "OVER", 0.5, 1.0)
                if overlay_texture is not None:
                    viewport.draw_preview(overlay_texture, frame, layout, 0.5, opacity)
            buffer = framebuffer.read_color(0, 0, width, height, 4, 0, "FLOAT")
        buffer.dimensions = width * height * 4
        return np.array(buffer, np.float32).reshape(height, width, 4)
    finally:
        offscreen.free()


def _pixel_projection(width, height):
    from mathutils import Matrix

    return Matrix(((2 / width, 0, 0, -1), (0, 2 / height, 0, -1), (0, 0, 1, 0), (0, 0, 0, 1)))


def test_an_off_screen_draw_has_the_stylized_preview_inside_the_camera_frame(tiny_scene, overlay):
    import gpu

    preview = _module("preview")
    assert bpy.ops.nst.live_preview_step() == {"FINISHED"}  # its Workbench render also sets up Blender's GPU
    image = bpy.data.images[preview.PREVIEW_IMAGE]
    raw_view = bpy.data.images.load(image["nst_content"])
    size, frame = (96, 54), (16, 8, 80, 44)  # the camera frame inside the view, in pixels
    try:
        raw_texture, stylized_texture = gpu.texture.from_image(raw_view), gpu.texture.from_image(image)
        raw = _offscreen_draw(size, raw_texture)
    except SystemError as exc:  # no GPU context (no EGL): "GPU functions for drawing are not available in background mode"
        pytest.skip(f"bpy as a module cannot draw here: {exc}")
    drawn = _offscreen_draw(size, raw_texture, stylized_texture, frame)
    inside, near = np.zeros(raw.shape[:2], bool), np.zeros(raw.shape[:2], bool)
    inside[frame[1] + 1:frame[3] - 1, frame[0] + 1:frame[2] - 1] = True  # rows bottom to top, as read back
    near[frame[1] - 1:frame[3] + 1, frame[0] - 1:frame[2] + 1] = True
    assert np.abs(drawn - raw)[inside].mean() > 0.02, "the stylized preview is drawn in the camera frame"
    assert np.abs(drawn - raw)[~near][:, :3].max() < 1e-3, "nothing is drawn outside it"
    half = _offscreen_draw(size, raw_texture, stylized_texture, frame, opacity=0.5)
    assert np.allclose(half[inside], (raw[inside] + drawn[inside]) / 2, atol=2 / 255), "opacity blends"
