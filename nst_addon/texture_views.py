"""Blender's side of texture stylization: an orbit of cameras around an object, views rendered with the UV pass
(the texture shown unlit; with Keep Shapes, Depth and Normal too), and the mask of the mesh's UV islands.

Runs on Blender's thread; every scene setting it touches is restored afterwards, and the cameras it makes are removed.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from .images import write_png
from .property_groups.objects import object_settings
from .property_groups.scene import scene_settings
from .worker_client import refuse_writing

VIEW_FILTER_WIDTH_PX = 0.01  # no pixel filter: each pixel's UV is one point of the surface, never an average
SHAPE_PASSES = (("use_pass_z", "Depth"), ("use_pass_normal", "Normal"))  # what Keep Shapes reads (Object Index too)


def view_keep_shapes(scene: bpy.types.Scene, ob: bpy.types.Object) -> float:
    """The Keep Shapes a texture from views of `ob` uses: the object's own when it has one, else the scene's
    (any method: textures are always optimized, and the views always render with Cycles)."""
    own = object_settings(ob)
    return own.keep_shapes if own.own_keep_shapes else scene_settings(scene).keep_shapes


def shape_passes_to_turn_on(scene: bpy.types.Scene) -> list[str]:
    """The Keep Shapes passes the views' view layer lacks (the views turn them on, then off again)."""
    layer = scene.view_layers[0]
    return [label for attribute, label in SHAPE_PASSES if not getattr(layer, attribute)]


def _bounding_sphere(ob: bpy.types.Object) -> tuple[Vector, float]:
    """Centre of the bounding box and the farthest vertex from it (a tighter frame than the box's corners)."""
    corners = [ob.matrix_world @ Vector(corner) for corner in ob.bound_box]
    centre = sum(corners, Vector()) / len(corners)
    points = [ob.matrix_world @ v.co for v in ob.data.vertices] if ob.type == "MESH" and ob.data.vertices else corners
    return centre, max((p - centre).length for p in points)


def orbit_cameras(scene: bpy.types.Scene, ob: bpy.types.Object, count: int, elevation_deg: float = 20.0,
                  lens_mm: float = 50.0) -> list[bpy.types.Object]:
    """`count` cameras evenly around `ob`, alternately above and below it, framing all of it.

    They are linked to the scene; remove them with `remove_cameras` when done.
    """
    centre, radius = _bounding_sphere(ob)
    cameras = []
    for index in range(count):
        data = bpy.data.cameras.new(f".nst-orbit-{index}")
        data.lens = lens_mm
        half_fov = math.atan(data.sensor_width / 2 / lens_mm)
        distance = radius / math.sin(half_fov) * 1.05
        azimuth = 2 * math.pi * index / count
        elevation = math.radians(elevation_deg if index % 2 == 0 or count < 3 else -elevation_deg)
        direction = Vector((math.cos(elevation) * math.sin(azimuth), -math.cos(elevation) * math.cos(azimuth),
                            math.sin(elevation)))
        camera = bpy.data.objects.new(f".nst-orbit-{index}", data)
        camera.location = centre + direction * distance
        camera.rotation_euler = (-direction).to_track_quat("-Z", "Y").to_euler()
        data.clip_start, data.clip_end = max(0.001, (distance - radius) * 0.5), distance + radius * 2
        scene.collection.objects.link(camera)
        cameras.append(camera)
    return cameras


def remove_cameras(cameras: list[bpy.types.Object]) -> None:
    for camera in cameras:
        data = camera.data
        bpy.data.objects.remove(camera)
        if data is not None and data.users == 0:
            bpy.data.cameras.remove(data)  # type: ignore[arg-type]


@contextmanager
def _view_render_settings(scene: bpy.types.Scene, ob: bpy.types.Object, size_px: int, samples: int, shapes: bool):
    """Cycles at `size_px` square with the UV and Object Index passes (with `shapes`, Depth and Normal too), no pixel
    filter and the Standard view transform (the picture is then the texture's own sRGB values); restored on exit."""
    render, layer, view = scene.render, scene.view_layers[0], scene.view_settings
    saved = dict(engine=render.engine, x=render.resolution_x, y=render.resolution_y,
                 percentage=render.resolution_percentage, camera=scene.camera, uv=layer.use_pass_uv,
                 index=layer.use_pass_object_index, pass_index=ob.pass_index, samples=scene.cycles.samples,
                 shape_passes={attribute: getattr(layer, attribute) for attribute, _ in SHAPE_PASSES},
                 filter=scene.cycles.filter_width, denoise=scene.cycles.use_denoising,
                 view=(view.view_transform, view.look, view.exposure, view.gamma))
    try:
        render.engine = "CYCLES"  # type: ignore[assignment]
        render.resolution_x = render.resolution_y = size_px
        render.resolution_percentage = 100
        layer.use_pass_uv = layer.use_pass_object_index = True
        for attribute, _ in SHAPE_PASSES if shapes else ():
            setattr(layer, attribute, True)
        scene.cycles.samples, scene.cycles.filter_width, scene.cycles.use_denoising = samples, VIEW_FILTER_WIDTH_PX, False
        view.view_transform, view.look, view.exposure, view.gamma = "Standard", "None", 0.0, 1.0
        used = {other.pass_index for other in scene.objects if other != ob}
        if ob.pass_index == 0 or ob.pass_index in used:
            ob.pass_index = max(used | {0}) + 1
        yield ob.pass_index
    finally:
        render.engine, render.resolution_x, render.resolution_y = saved["engine"], saved["x"], saved["y"]
        render.resolution_percentage, scene.camera = saved["percentage"], saved["camera"]
        layer.use_pass_uv, layer.use_pass_object_index = saved["uv"], saved["index"]
        for attribute, was_on in saved["shape_passes"].items():
            setattr(layer, attribute, was_on)
        ob.pass_index, scene.cycles.samples = saved["pass_index"], saved["samples"]
        scene.cycles.filter_width, scene.cycles.use_denoising = saved["filter"], saved["denoise"]
        view.view_transform, view.look, view.exposure, view.gamma = saved["view"]


@contextmanager
def _texture_emitted(material: bpy.types.Material | None, texture_node: bpy.types.ShaderNodeTexImage | None):
    """While rendering the views, the material shows `texture_node`'s colour unlit (emission), which is what the
    engine compares the texture with; the material's own surface link comes back afterwards."""
    if material is None or texture_node is None or material.node_tree is None:
        yield
        return
    tree = material.node_tree
    output = next((n for n in tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial" and n.is_active_output), None)  # type: ignore[attr-defined]
    if output is None:
        yield
        return
    surface = output.inputs["Surface"]
    previous = surface.links[0].from_socket if surface.is_linked else None  # type: ignore[index]
    emission = tree.nodes.new("ShaderNodeEmission")
    try:
        tree.links.new(texture_node.outputs["Color"], emission.inputs["Color"])  # type: ignore[index]
        tree.links.new(emission.outputs["Emission"], surface)
        yield
    finally:
        tree.nodes.remove(emission)
        if previous is not None:
            tree.links.new(previous, surface)


def _save_render(scene: bpy.types.Scene, exr: Path, png: Path) -> None:
    """The render as a multilayer EXR (Combined, UV, Object Index; Depth, Normal with Keep Shapes) and a display PNG
    (view transform applied)."""
    settings = scene.render.image_settings
    saved = (settings.media_type, settings.file_format, settings.color_depth, settings.color_mode)
    result = bpy.data.images["Render Result"]
    refuse_writing(exr, "a view render the job writes")
    refuse_writing(png, "a view render the job writes")
    try:
        settings.media_type, settings.file_format, settings.color_depth = "MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER", "32"
        result.save_render(str(exr), scene=scene)
        settings.media_type, settings.file_format = "IMAGE", "PNG"
        settings.color_mode, settings.color_depth = "RGB", "8"
        result.save_render(str(png), scene=scene)
    finally:
        settings.media_type, settings.file_format = saved[0], saved[1]
        settings.color_depth, settings.color_mode = saved[2], saved[3]


def render_views(scene: bpy.types.Scene, ob: bpy.types.Object, cameras: list[bpy.types.Object], folder: Path,
                 size_px: int = 256, samples: int = 16, material: bpy.types.Material | None = None,
                 texture_node: bpy.types.ShaderNodeTexImage | None = None, shapes: bool = False
                 ) -> tuple[list[Path], int]:
    """Render `ob` from each camera into `folder` as view_NN.exr (passes) and view_NN.png (display).

    With `material` and `texture_node`, the views show that texture unlit; with `shapes`, the EXRs carry the Depth
    and Normal passes Keep Shapes reads. Returns the EXR paths and the object's pass index in them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with (_view_render_settings(scene, ob, size_px, samples, shapes) as pass_index,
          _texture_emitted(material, texture_node)):
        for index, camera in enumerate(cameras):
            scene.camera = camera
            bpy.ops.render.render()
            exr, png = folder / f"view_{index:02d}.exr", folder / f"view_{index:02d}.png"
            _save_render(scene, exr, png)
            paths.append(exr)
    return paths, pass_index


def uv_island_mask(ob: bpy.types.Object, width: int, height: int) -> np.ndarray:
    """Texels covered by the mesh's active UV map (H x W bool, rows top-down), one texel of margin included."""
    mesh = ob.data
    if not mesh.uv_layers:
        raise ValueError(f"the mesh '{mesh.name}' has no UV map; unwrap it (UV > Unwrap) first")
    mesh.calc_loop_triangles()
    uv_data = mesh.uv_layers.active.data
    uvs = np.empty(len(uv_data) * 2, np.float32)
    uv_data.foreach_get("uv", uvs)
    loops = np.empty(len(mesh.loop_triangles) * 3, np.int32)
    mesh.loop_triangles.foreach_get("loops", loops)
    triangles = uvs.reshape(-1, 2)[loops].reshape(-1, 3, 2) * (width, height)  # texel units, v up
    mask = np.zeros((height, width), bool)
    for a, b, c in triangles:
        area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        if abs(area) < 1e-9:
            continue
        x0, y0 = np.floor(np.minimum(np.minimum(a, b), c)).astype(int)
        x1, y1 = np.ceil(np.maximum(np.maximum(a, b), c)).astype(int)
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1) + 0.5, np.arange(y0, y1 + 1) + 0.5)
        w0 = ((b[0] - xs) * (c[1] - ys) - (b[1] - ys) * (c[0] - xs)) / area
        w1 = ((c[0] - xs) * (a[1] - ys) - (c[1] - ys) * (a[0] - xs)) / area
        inside = (w0 >= 0) & (w1 >= 0) & (w0 + w1 <= 1)
        cols, rows = (xs[inside] - 0.5).astype(int) % width, (ys[inside] - 0.5).astype(int) % height
        mask[rows, cols] = True
    grown = mask.copy()  # texels the triangles only partly cover still belong to the island
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        grown |= np.roll(mask, (dy, dx), (0, 1))
    return grown[::-1]


def write_island_mask(ob: bpy.types.Object, width: int, height: int, path: Path) -> Path:
    """The UV island mask as a PNG (white inside the islands) at the texture's size, for the engine's --uv-mask."""
    mask = uv_island_mask(ob, width, height)[::-1].astype(np.float32)  # Blender's rows run bottom to top
    rgba = np.ones((height, width, 4), np.float32)
    rgba[..., :3] = mask[..., None]
    return write_png(rgba, path)
