"""Rendered test sequences from the real Blender (bpy module): known motion, and an occluder crossing an object.

An orthographic camera looks straight down at 10 px per Blender unit, so motions in pixels are known exactly.
"""

from __future__ import annotations

from pathlib import Path

PX_PER_UNIT = 10


def _flat(ob, name: str, rgb) -> None:
    """An emission material: the render shows exactly this colour, with no lighting."""
    import bpy

    material = bpy.data.materials.new(name)
    nodes = material.node_tree.nodes
    nodes.clear()
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Color"].default_value = (*rgb, 1.0)
    output = nodes.new("ShaderNodeOutputMaterial")
    material.node_tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    ob.data.materials.append(material)


def _plane(name: str, size: float, location, rgb, pass_index: int):
    import bpy

    bpy.ops.mesh.primitive_plane_add(size=size, location=location)
    ob = bpy.context.object
    ob.name = name
    ob.pass_index = pass_index
    _flat(ob, name, rgb)
    return ob


def _animate(ob, frames: int, step_units: tuple[float, float]) -> None:
    """Linear motion: `step_units` (x, y) per frame."""
    start = ob.location.copy()
    for frame in (1, frames):
        ob.location = (start.x + step_units[0] * (frame - 1), start.y + step_units[1] * (frame - 1), start.z)
        ob.keyframe_insert("location", frame=frame)
    action = ob.animation_data.action
    curves = action.fcurves if hasattr(action, "fcurves") else [
        c for layer in action.layers for strip in layer.strips for bag in strip.channelbags for c in bag.fcurves]
    for curve in curves:
        for key in curve.keyframe_points:
            key.interpolation = "LINEAR"


def render_sequence(folder: Path, frames: int = 3, width: int = 64, height: int = 48, occluder: bool = False,
                    object_step_px=(10, 5), occluder_step_px=(-8, 0), samples: int = 1,
                    cryptomatte: bool = False) -> list[tuple[Path, Path]]:
    """Render `frames` frames: a moving square 'Object' (index 3) over a static floor (index 1), and optionally an
    'Occluder' (index 5) nearer the camera. Writes display PNGs and multilayer EXRs; returns (png, exr) pairs."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.use_motion_blur = False
    scene.view_settings.view_transform = "Standard"
    scene.frame_start, scene.frame_end = 1, frames
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    camera.location = (0, 0, 10)
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = width / PX_PER_UNIT
    scene.camera = camera
    _plane("Floor", 40, (0, 0, -1), (0.2, 0.5, 0.3), 1)
    square = _plane("Object", 1.6, (-1.5, -0.8, 0), (0.9, 0.6, 0.1), 3)
    _animate(square, frames, (object_step_px[0] / PX_PER_UNIT, object_step_px[1] / PX_PER_UNIT))
    if occluder:
        bar = _plane("Occluder", 1.0, (-1.2, -0.8, 1), (0.2, 0.2, 0.9), 5)
        bar.scale = (0.6, 3.0, 1.0)
        _animate(bar, frames, (occluder_step_px[0] / PX_PER_UNIT, occluder_step_px[1] / PX_PER_UNIT))
    layer = scene.view_layers[0]
    layer.use_pass_vector = layer.use_pass_z = layer.use_pass_object_index = True
    layer.use_pass_cryptomatte_object = cryptomatte
    settings = scene.render.image_settings
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for frame in range(1, frames + 1):
        scene.frame_set(frame)
        bpy.ops.render.render()
        result = bpy.data.images["Render Result"]
        png, exr = folder / f"frame_{frame:04d}.png", folder / f"frame_{frame:04d}.exr"
        settings.media_type, settings.file_format = "MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER"
        settings.color_depth = "32"
        result.save_render(str(exr), scene=scene)
        settings.media_type, settings.file_format = "IMAGE", "PNG"
        settings.color_mode, settings.color_depth = "RGB", "8"
        result.save_render(str(png), scene=scene)
        pairs.append((png, exr))
    return pairs
