"""Helpers for the Blender tests: Blender's extension tool, the scenes they render (built with bench.scenes): a tiny
Cycles scene (64x48 px, 2 samples) with a scene-styled floor, an own-styled 'Cube' and a kept 'Sphere', a top-down
shot with known motion, a transparent render; and pixel/pass readers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bpy
import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # a test run as a plain script (Install Engine's fresh Blender) still finds bench/
    sys.path.append(str(REPO))

from bench.scenes import (PX_PER_UNIT, add_mesh, emission, empty_scene, enable_passes, keyframes,  # noqa: E402
                          render_frames, tiny_shot, top_down_camera)

STYLES = REPO / "styles"
REPO_MODULE = "nsttest"
ADDON = f"bl_ext.{REPO_MODULE}.neural_style_transfer"
SIZE = (64, 48)


def blender_ext() -> list[str]:
    """Blender's own extension tool (validate, build), shipped inside the bpy wheel."""
    return [sys.executable, os.path.join(bpy.utils.system_resource("SCRIPTS"), "addons_core", "bl_pkg", "cli",
                                         "blender_ext.py")]


def build_tiny_scene(frames: int = 1):
    """An empty file with a floor (scene style), 'Cube' (own style, moving 0.5 units right over a shot), 'Sphere'
    (kept original), a camera, a sun: Cycles, 2 samples."""
    scene = tiny_shot(SIZE, samples=2, frames=frames, cube_x=(-1.4, -0.9))
    settings = scene.nst
    settings.styles.add().filepath = str(STYLES / "starry_night.jpg")
    settings.preview_size_px, settings.preview_iterations = max(SIZE), 8
    cube, sphere = scene.objects["Cube"], scene.objects["Sphere"]
    cube.nst.mode, cube.nst.style_path = "OWN", str(STYLES / "shipwreck.jpg")
    sphere.nst.mode = "KEEP"
    return scene


def styleless_shot(path: Path, frames: int, transparent: bool = False) -> Path:
    """The tiny scene over `frames` frames with no painting in it (no scene style, every object inheriting), saved
    as a copy at `path`: the command line supplies the styles. `transparent`: Film > Transparent."""
    scene = build_tiny_scene(frames=frames)
    scene.render.film_transparent = transparent
    scene.nst.styles.clear()
    for ob in scene.objects:
        ob.nst.mode = "INHERIT"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    return path


def farm_shot(folder: Path, frames: int, iterations: int, **farm_settings):
    """The tiny scene over `frames` frames for a farm job, saved as folder/shot.blend (farms render saved files):
    output in folder/out, `iterations` a frame, chunks of 2 frames, bundles in folder/bundles, and `farm_settings`
    on the scene's farm settings. Returns the scene."""
    scene = build_tiny_scene(frames=frames)
    scene.nst.output_folder = str(folder / "out")
    scene.nst.final_iterations = iterations
    farm = scene.nst_farm
    farm.chunk_size, farm.bundle_folder = 2, str(folder / "bundles")
    for name, value in farm_settings.items():
        setattr(farm, name, value)
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "shot.blend"))
    return scene


def render_top_down(folder: Path, frames: int = 3, width: int = 64, height: int = 48, occluder: bool = False,
                    object_step_px=(10, 5), occluder_step_px=(-8, 0), samples: int = 1,
                    cryptomatte: bool = False) -> list[tuple[Path, Path]]:
    """Known motion, seen straight down at PX_PER_UNIT px per unit: a square 'Object' (index 3) moving
    `object_step_px` a frame over a static 'Floor' (index 1), optionally an 'Occluder' bar (index 5) nearer the
    camera; flat emission colours. Renders display PNGs and multilayer EXRs; returns (png, exr) pairs."""
    scene = empty_scene((width, height), samples=samples, frames=frames, standard_view=True)
    top_down_camera(scene)
    add_mesh("plane", emission("Floor", (0.2, 0.5, 0.3)), name="Floor", pass_index=1, size=40, location=(0, 0, -1))
    moving = [(add_mesh("plane", emission("Object", (0.9, 0.6, 0.1)), name="Object", pass_index=3, size=1.6,
                        location=(-1.5, -0.8, 0)), object_step_px)]
    if occluder:
        bar = add_mesh("plane", emission("Occluder", (0.2, 0.2, 0.9)), name="Occluder", pass_index=5, size=1.0,
                       location=(-1.2, -0.8, 1))
        bar.scale = (0.6, 3.0, 1.0)
        moving.append((bar, occluder_step_px))
    for ob, (dx, dy) in moving:
        x, y, z = ob.location
        shift = (frames - 1) / PX_PER_UNIT
        keyframes(ob, "location", {1: (x, y, z), frames: (x + dx * shift, y + dy * shift, z)}, linear=True)
    enable_passes(scene, object_index=True, cryptomatte=cryptomatte)
    return render_frames(scene, folder)


def render_transparent(folder: Path, ball_rgb, frames: int = 2, width: int = 64,
                       height: int = 48) -> list[tuple[Path, Path]]:
    """An emissive ball (scene-linear `ball_rgb`) moving right over nothing, seen straight down, Film >
    Transparent, 16 samples; (display RGBA PNG, premultiplied multilayer EXR) per frame, as Blender writes them."""
    scene = empty_scene((width, height), samples=16, frames=frames, standard_view=True, transparent=True)
    top_down_camera(scene)
    ball = add_mesh("uv_sphere", emission("ball", ball_rgb), radius=1.6, location=(-0.6, 0, 0))
    keyframes(ball, "location", {frame: (-0.6 + 0.4 * (frame - 1), 0, 0) for frame in (1, frames)})
    enable_passes(scene)
    return render_frames(scene, folder, color_mode="RGBA")


def pixels(image) -> np.ndarray:
    """RGBA float pixels of a Blender image, H x W x 4, rows bottom to top."""
    width, height = image.size
    array = np.empty(width * height * 4, np.float32)
    image.pixels.foreach_get(array)
    return array.reshape(height, width, 4)


def object_index(exr_path: Path) -> np.ndarray:
    """The Object Index pass of a multilayer EXR, rows bottom to top like Blender's pixels."""
    import OpenEXR

    with OpenEXR.File(str(exr_path), separate_channels=True) as exr:
        for part in exr.parts:
            for name, channel in part.channels.items():
                if name.endswith("Object Index.X"):
                    return np.rint(np.asarray(channel.pixels))[::-1].astype(int)
    raise AssertionError(f"no Object Index pass in {exr_path}")
