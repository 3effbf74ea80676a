"""The add-on's texture operator in the real Blender: Flat (seamless) and From Views (orbit views rendered with the
UV pass, and Depth and Normal for Keep Shapes), a new image each time, the relink, and the scene and material left as
they were."""

from __future__ import annotations

import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from blender_kit import ADDON, pixels

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support_texture import tileable_texture  # noqa: E402

from engine.imageio.images import read_settings  # noqa: E402
from engine.runtime.errors import EngineError  # noqa: E402
from engine.shapes.structure import read_structure_passes  # noqa: E402
from engine.textures.texture import tile_seam_ratio  # noqa: E402

pytestmark = pytest.mark.blender


def textured_sphere(texture: np.ndarray):
    """The tiny scene's 'Sphere' (UV-mapped) with an Image Texture node holding `texture`, selected and active."""
    height, width = texture.shape[:2]
    image = bpy.data.images.new("Tile", width, height, alpha=True)
    rgba = np.concatenate([texture, np.ones((height, width, 1), np.float32)], -1)[::-1]  # Blender rows: bottom up
    image.pixels.foreach_set(rgba.ravel())
    sphere = bpy.data.objects["Sphere"]
    bpy.context.view_layer.objects.active = sphere
    material = sphere.active_material
    node = material.node_tree.nodes.new("ShaderNodeTexImage")
    node.image = image
    material.node_tree.nodes.active = node
    return image, node, material


def texture_job_folder() -> Path:
    import importlib

    return importlib.import_module(f"{ADDON}.nst_addon.preferences").user_folder("jobs", "texture")


def test_flat_seamless_makes_a_tileable_new_image_and_relinks(tiny_scene):
    texture = tileable_texture(64)
    original, node, _ = textured_sphere(texture)
    before = pixels(original).copy()
    tiny_scene.nst_texture.mode, tiny_scene.nst_texture.seamless = "FLAT", True
    tiny_scene.nst.relink_texture = True
    assert bpy.ops.nst.stylize_texture() == {"FINISHED"}
    stylized = bpy.data.images["Tile (stylized)"]
    assert node.image == stylized and tuple(stylized.size) == (64, 64)
    assert np.array_equal(pixels(original), before)
    result = pixels(stylized)[::-1, :, :3]
    assert np.abs(result - texture).mean() > 0.02
    assert tile_seam_ratio(result) <= 1.5


def test_from_views_renders_an_orbit_and_leaves_the_scene_as_it_was(tiny_scene):
    texture = tileable_texture(64, seed=2)
    original, node, material = textured_sphere(texture)
    settings = tiny_scene.nst_texture
    settings.mode, settings.view_source, settings.view_count, settings.view_size_px = "VIEWS", "ORBIT", 3, 48
    settings.view_samples = 1
    objects, render = set(bpy.data.objects.keys()), tiny_scene.render
    tiny_scene.view_settings.view_transform = "AgX"  # the views render with Standard, then AgX comes back
    resolution, surface = (render.resolution_x, render.resolution_y), material.node_tree.nodes["Material Output"]
    linked_from = surface.inputs["Surface"].links[0].from_node.name
    assert bpy.ops.nst.stylize_texture() == {"FINISHED"}
    stylized = pixels(bpy.data.images["Tile (stylized)"])[::-1, :, :3]
    changed = np.abs(stylized - texture).max(-1) > 2 / 255
    assert 0.2 < changed.mean() < 0.98  # what the three views see changes; texels no view samples do not
    assert node.image == original, "relinking is off by default"
    assert set(bpy.data.objects.keys()) == objects, "the orbit's cameras are removed"
    assert (render.resolution_x, render.resolution_y) == resolution
    assert tiny_scene.view_settings.view_transform == "AgX"
    assert surface.inputs["Surface"].links[0].from_node.name == linked_from
    assert not any(n.bl_idname == "ShaderNodeEmission" for n in material.node_tree.nodes)
    layer = tiny_scene.view_layers[0]
    assert not layer.use_pass_z and not layer.use_pass_normal, "Keep Shapes' passes are off again"


def test_from_views_keep_shapes_renders_the_depth_pass_and_reaches_the_engine(tiny_scene):
    texture = tileable_texture(64, seed=4)
    textured_sphere(texture)
    settings = tiny_scene.nst_texture
    settings.mode, settings.view_source, settings.view_count, settings.view_size_px = "VIEWS", "ORBIT", 2, 32
    settings.view_samples = 1
    tiny_scene.nst.keep_shapes = 0.3
    sphere = bpy.data.objects["Sphere"]
    sphere.nst.own_keep_shapes, sphere.nst.keep_shapes = True, 0.8  # the textured object's own wins
    assert bpy.ops.nst.stylize_texture() == {"FINISHED"}
    folder = texture_job_folder()
    views = sorted((folder / "views").glob("view_*.exr"))
    assert len(views) == 2
    passes = read_structure_passes(views[0], (32, 32))
    assert passes.normal is not None and passes.object_index is not None
    assert read_settings(folder / "stylized.png")["structure"] == pytest.approx(0.8)
    stylized = pixels(bpy.data.images["Tile (stylized)"])[::-1, :, :3]
    assert np.abs(stylized - texture).max(-1).mean() > 2 / 255
    layer = tiny_scene.view_layers[0]
    assert not layer.use_pass_z and not layer.use_pass_normal, "the scene's passes are as they were"


def test_from_views_with_the_selected_cameras(tiny_scene):
    texture = tileable_texture(64, seed=3)
    textured_sphere(texture)
    settings = tiny_scene.nst_texture
    settings.mode, settings.view_source, settings.view_size_px, settings.view_samples = "VIEWS", "CAMERAS", 48, 1
    tiny_scene.nst.keep_shapes = 0.0  # off: the views carry no Depth
    for ob in bpy.context.selected_objects:
        ob.select_set(False)
    with pytest.raises(RuntimeError, match="select the cameras"):
        bpy.ops.nst.stylize_texture()
    tiny_scene.camera.select_set(True)
    assert bpy.ops.nst.stylize_texture() == {"FINISHED"}
    stylized = pixels(bpy.data.images["Tile (stylized)"])[::-1, :, :3]
    changed = np.abs(stylized - texture).max(-1) > 2 / 255
    assert 0.05 < changed.mean() < 0.7  # one camera sees less than half the sphere
    assert read_settings(texture_job_folder() / "stylized.png")["structure"] == 0.0
    with pytest.raises(EngineError, match="no Depth pass"):
        read_structure_passes(texture_job_folder() / "views" / "view_00.exr")
