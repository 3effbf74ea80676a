"""Stylize Texture: the active material's image texture, flat (optionally seamless, optionally only inside the UV
islands) or from views of the object (an orbit or chosen cameras), into a new image.

Undo-safe: the new image and the relink are one undo step, and Blender data is looked up again by name after the
engine's job, so an undo while it runs is reported, never a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import bpy

from .. import rendering
from ..images import export_png, is_data_image, load_result
from ..preferences import fresh_job_folder
from ..property_groups.scene import scene_settings
from ..property_groups.texture import texture_settings
from ..texture_views import (orbit_cameras, remove_cameras, render_views, shape_passes_to_turn_on, view_keep_shapes,
                             write_island_mask)
from ..worker_client import AddonError
from .runner import Step, WorkerOperator

TEXTURE_CHOICES = ("mode", "seamless", "islands_only", "view_source", "view_count", "view_size_px", "view_samples")


def active_texture_node(context: bpy.types.Context) -> bpy.types.ShaderNodeTexImage:
    """The active material's active node, if it is an Image Texture with an image; else a clear error."""
    ob = context.object
    material = ob.active_material if ob is not None else None
    if material is None or material.node_tree is None:
        raise AddonError("select an object whose active material uses nodes")
    node = material.node_tree.nodes.active
    if node is None or node.bl_idname != "ShaderNodeTexImage":
        raise AddonError(f"select an Image Texture node in the material '{material.name}' (click it in the Shader "
                         "Editor)")
    texture = cast(bpy.types.ShaderNodeTexImage, node)
    if texture.image is None:
        raise AddonError(f"the Image Texture node '{node.name}' has no image")
    return texture


def check_colour_image(image: bpy.types.Image) -> None:
    """AddonError unless `image` is a colour picture with pixels, one image (not UDIM tiles)."""
    if is_data_image(image):
        raise AddonError(f"the image '{image.name}' is Non-Color data ({image.colorspace_settings.name}), such "
                         "as a normal or roughness map; only colour textures can be stylized")
    if image.source == "TILED":
        raise AddonError(f"the image '{image.name}' is a UDIM tiled image; stylize one tile image at a time")
    if image.size[0] == 0 or image.size[1] == 0:
        raise AddonError(f"the image '{image.name}' has no pixels; is its file missing?")


class NST_OT_stylize_texture(WorkerOperator):
    """Stylize the active material's selected Image Texture into a new image; the original is left as it is"""

    bl_idname = "nst.stylize_texture"
    bl_label = "Stylize Texture"
    bl_options = {"REGISTER", "UNDO"}

    def plan(self, context):
        scene = context.scene
        node = active_texture_node(context)
        image = node.image
        check_colour_image(image)
        texture = texture_settings(scene)
        choice = {key: getattr(texture, key) for key in TEXTURE_CHOICES}
        ob = context.object
        if (texture.mode == "VIEWS" or texture.islands_only) and (ob.type != "MESH" or not ob.data.uv_layers):
            raise AddonError(f"'{ob.name}' has no UV map; unwrap it (UV > Unwrap) to stylize its texture "
                             f"{'from views' if texture.mode == 'VIEWS' else 'inside its UV islands'}")
        cameras = [c.name for c in context.selected_objects if c.type == "CAMERA"]
        if texture.mode == "VIEWS" and texture.view_source == "CAMERAS" and not cameras:
            raise AddonError("select the cameras to render the views from (or choose the Orbit views)")
        image_file = [bpy.path.abspath(image.filepath)] if image.filepath and not image.packed_file else []
        folder = fresh_job_folder("texture", {**rendering.job_inputs(scene), "the image's file": image_file})
        styles, weights = rendering.scene_styles(scene_settings(scene), folder)
        names = dict(object=ob.name, material=ob.active_material.name, node=node.name, image=image.name)
        size = (image.size[0], image.size[1])
        self.relink = scene_settings(scene).relink_texture
        keep_shapes = view_keep_shapes(scene, ob) if texture.mode == "VIEWS" else 0.0
        self.shapes_note = ""
        texture_png, output = folder / "texture.png", folder / "stylized.png"

        def prepare():
            source = _lookup_image(names)
            export_png(source, texture_png)
            settings = scene_settings(scene)
            size_px, iterations = settings.size_and_iterations(max(size))
            common = {"styles": styles, "style_blend": weights, "output": str(output),
                      **self.engine.request_fields()}
            options = {"iterations": iterations, "seed": settings.seed, "style_strength": settings.strength}
            if choice["mode"] == "FLAT" and not (choice["seamless"] or choice["islands_only"]):
                # a plain picture: the image stylization (Quality or Fast), with colour preservation
                return {"type": "stylize", "content": str(texture_png), **common,
                        "options": {**options, "size_px": size_px, "preserve_color": settings.preserve_color},
                        **rendering.method_fields(settings, styles)}
            request = {"type": "stylize_texture", "texture": str(texture_png), **common, "options": options}
            target = bpy.data.objects[names["object"]]
            if choice["mode"] == "FLAT":
                request["seamless"] = choice["seamless"]
                if choice["islands_only"]:
                    request["uv_mask"] = str(write_island_mask(target, *size, folder / "islands.png"))
                else:
                    options["size_px"] = size_px
                return request
            turned_on = shape_passes_to_turn_on(scene) if keep_shapes > 0 else []
            request["views"], request["object_index"] = _render_views(scene, target, names, choice, cameras,
                                                                      folder / "views", keep_shapes > 0)
            request["structure"] = keep_shapes
            if turned_on:
                self.shapes_note = (f" (Keep Shapes {keep_shapes:.2f}: turned on the {' and '.join(turned_on)} "
                                    "passes for the views, off again after)")
            return request

        def finish(result):
            stylized = load_result(Path(result["output"]), f"{names['image']} (stylized)", size)
            stylized["nst_source_image"] = names["image"]
            self.stylized_name = stylized.name
            if self.relink:
                material = bpy.data.materials.get(names["material"])
                node_now = material.node_tree.nodes.get(names["node"]) if material and material.node_tree else None
                if node_now is None:
                    raise AddonError(f"the material '{names['material']}' or its node '{names['node']}' is gone "
                                     "(undone while stylizing?); the result is kept as the image "
                                     f"'{stylized.name}'")
                node_now.image = stylized
                material.update_tag()

        return [Step(f"texture '{image.name}'", prepare, finish)]

    def finished(self, context, done, skipped):
        return f"stylized texture saved as the image '{self.stylized_name}'{self.shapes_note}"


def _render_views(scene, ob, names: dict, choice: dict, camera_names: list[str], folder: Path,
                  shapes: bool) -> tuple[list[str], int]:
    """The views (orbit or the chosen cameras), the texture shown unlit, with Keep Shapes' passes when `shapes`;
    (EXR paths, the object's pass index)."""
    material = bpy.data.materials[names["material"]]
    node = material.node_tree.nodes[names["node"]]
    orbit = choice["view_source"] == "ORBIT"
    cameras = orbit_cameras(scene, ob, choice["view_count"]) if orbit else [bpy.data.objects[n] for n in camera_names]
    try:
        paths, pass_index = render_views(scene, ob, cameras, folder, choice["view_size_px"], choice["view_samples"],
                                         material, node, shapes)
    finally:
        if orbit:
            remove_cameras(cameras)
    return [str(p) for p in paths], pass_index


def _lookup_image(names: dict) -> bpy.types.Image:
    image = bpy.data.images.get(names["image"])
    if image is None:
        raise AddonError(f"the image '{names['image']}' is gone (undone or deleted?); select the texture again")
    return image
