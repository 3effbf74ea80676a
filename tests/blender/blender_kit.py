"""Helpers for the add-on's integration tests: Blender's extension tool, a tiny Cycles scene (64x48 px, 2 samples)
with a scene-styled floor, an own-styled 'Cube' and a kept 'Sphere', and pixel/pass readers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bpy
import numpy as np

REPO = Path(__file__).resolve().parents[2]
STYLES = REPO / "styles"
REPO_MODULE = "nsttest"
ADDON = f"bl_ext.{REPO_MODULE}.neural_style_transfer"
SIZE = (64, 48)


def blender_ext() -> list[str]:
    """Blender's own extension tool (validate, build), shipped inside the bpy wheel."""
    return [sys.executable, os.path.join(bpy.utils.system_resource("SCRIPTS"), "addons_core", "bl_pkg", "cli",
                                         "blender_ext.py")]


def build_tiny_scene(frames: int = 1):
    """An empty file with a floor (scene style), 'Cube' (own style), 'Sphere' (kept original), a camera, a sun."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 2
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = 1, frames
    scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.3, 0.35, 0.4)

    def colored(ob, rgb):
        material = bpy.data.materials.new(ob.name)
        material.diffuse_color = (*rgb, 1.0)
        material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*rgb, 1.0)
        ob.data.materials.append(material)

    bpy.ops.mesh.primitive_plane_add(size=30, location=(0, 0, -1))
    colored(bpy.context.object, (0.6, 0.5, 0.3))
    bpy.ops.mesh.primitive_cube_add(size=1.8, location=(-1.4, 0, 0))
    cube = bpy.context.object
    cube.name = "Cube"
    colored(cube, (0.1, 0.3, 0.8))
    if frames > 1:
        cube.keyframe_insert("location", frame=1)
        cube.location.x += 0.5
        cube.keyframe_insert("location", frame=frames)
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, location=(1.4, 0, 0))
    sphere = bpy.context.object
    sphere.name = "Sphere"
    colored(sphere, (0.8, 0.2, 0.1))
    bpy.ops.object.camera_add(location=(0, -7, 1.5), rotation=(1.4, 0, 0))
    scene.camera = bpy.context.object
    bpy.ops.object.light_add(type="SUN", rotation=(0.6, 0.2, 0.3))
    bpy.context.object.data.energy = 3.0

    settings = scene.nst
    settings.styles.add().filepath = str(STYLES / "starry_night.jpg")
    settings.preview_size_px, settings.preview_iterations = max(SIZE), 8
    cube.nst.mode, cube.nst.style_path = "OWN", str(STYLES / "shipwreck.jpg")
    sphere.nst.mode = "KEEP"
    return scene


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
