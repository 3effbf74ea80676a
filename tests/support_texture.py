"""Texture fixtures: drawn textures (tileable and painted-on), and a textured object rendered by the real Blender
from an orbit of views with the UV pass (through the add-on's own `texture_views`).

The object's material emits its image texture, so a view shows exactly the texture where the UV pass points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def tileable_texture(size_px: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth texture that tiles: sums of sinusoids whose periods divide the tile."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size_px, 0:size_px] / size_px
    out = np.full((size_px, size_px, 3), 0.5)
    for channel in range(3):
        for _ in range(6):
            fx, fy = rng.integers(-4, 5, 2)
            out[..., channel] += 0.12 * np.sin(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 2 * np.pi))
    return np.clip(out, 0, 1).astype(np.float32)


def painted_texture(width: int = 128, height: int = 64) -> np.ndarray:
    """A colourful texture with bands, discs and a grid, so changes show from every side of an object."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for row in range(height):
        t = row / height
        draw.line([(0, row), (width, row)], fill=(int(60 + 150 * t), int(120 + 80 * (1 - t)), int(200 - 120 * t)))
    rng = np.random.default_rng(3)
    for _ in range(9):
        cx, cy, r = rng.integers(0, width), rng.integers(height // 6, height * 5 // 6), rng.integers(height // 10, height // 4)
        colour = tuple(int(c) for c in rng.integers(40, 250, 3))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    for col in range(0, width, width // 8):
        draw.line([(col, 0), (col, height)], fill=(250, 245, 230), width=1)
    return np.asarray(image, dtype=np.float32) / 255.0


def save_png(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def build_textured_object(texture_png: Path, kind: str = "sphere"):
    """A fresh scene with one UV-mapped object ('sphere' or 'monkey') whose material emits `texture_png`.

    Returns (scene, object, image texture node).
    """
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.view_settings.view_transform = "Standard"
    if kind == "sphere":
        bpy.ops.mesh.primitive_uv_sphere_add(segments=48, ring_count=24, radius=1.0)
    else:
        bpy.ops.mesh.primitive_monkey_add(size=2.0)
        bpy.ops.object.modifier_add(type="SUBSURF")
    ob = bpy.context.object
    bpy.ops.object.shade_smooth()
    material = bpy.data.materials.new("Textured")
    tree = material.node_tree
    tree.nodes.clear()
    node = tree.nodes.new("ShaderNodeTexImage")
    node.image = bpy.data.images.load(str(texture_png))
    node.interpolation = "Linear"
    emission = tree.nodes.new("ShaderNodeEmission")
    output = tree.nodes.new("ShaderNodeOutputMaterial")
    tree.links.new(node.outputs["Color"], emission.inputs["Color"])
    tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    tree.nodes.active = node
    ob.data.materials.append(material)
    return scene, ob, node


def render_orbit(scene, ob, folder: Path, count: int, size_px: int, samples: int = 4) -> tuple[list[Path], int]:
    """`count` orbit views of `ob` (EXR passes + display PNG each) into `folder`; (EXR paths, pass index)."""
    from nst_addon.texture_views import orbit_cameras, remove_cameras, render_views

    cameras = orbit_cameras(scene, ob, count)
    try:
        return render_views(scene, ob, cameras, folder, size_px=size_px, samples=samples)
    finally:
        remove_cameras(cameras)
