"""Blender scenes for the tests and the evidence scripts, built in the real bpy: one empty Cycles scene, materials,
objects, cameras, lights and keyframes, the render loop that writes display PNGs beside multilayer EXRs, and the
scenes more than one caller uses (the tiny floor/cube/sphere shot, the top-down orthographic set, a textured
object). What differs between callers is a parameter, so a test's rendered data stays what it asserts on.
"""

from __future__ import annotations

from pathlib import Path

import bpy

PX_PER_UNIT = 10  # the orthographic top-down camera: 10 px per Blender unit, so motion in pixels is known exactly


# -- the scene ---------------------------------------------------------------------------------------------------

def empty_scene(size: tuple[int, int] | None = None, *, samples: int | None = None, frames: int = 1,
                denoise: bool = False, world_rgb=None, standard_view: bool = False, transparent: bool = False,
                fps: int | None = None):
    """A fresh file with one empty Cycles scene on the CPU: `size` (width, height) px at 100 % where given,
    frames 1..`frames`, no motion blur; `samples` (Cycles' default when None), and a plain-colour world, the
    Standard view transform, a transparent film and `fps` where asked."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    if samples is not None:
        scene.cycles.samples = samples
    scene.cycles.use_denoising = denoise
    if size is not None:
        scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = *size, 100
    scene.render.use_motion_blur = False
    scene.render.film_transparent = transparent
    scene.frame_start, scene.frame_end = 1, frames
    if fps is not None:
        scene.render.fps, scene.render.fps_base = fps, 1.0
    if standard_view:
        scene.view_settings.view_transform = "Standard"
    if world_rgb is not None:
        scene.world = bpy.data.worlds.new("World")
        scene.world.color = world_rgb
    return scene


def enable_passes(scene, *, vector: bool = True, depth: bool = True, object_index: bool = False,
                  cryptomatte: bool = False) -> None:
    """Turn on the render passes the engine reads (motion vectors, depth, object index, cryptomatte)."""
    layer = scene.view_layers[0]
    layer.use_pass_vector, layer.use_pass_z = vector, depth
    layer.use_pass_object_index = object_index
    layer.use_pass_cryptomatte_object = cryptomatte


# -- materials ---------------------------------------------------------------------------------------------------

def principled(name: str, rgb, *, roughness: float | None = None, metallic: float | None = None,
               checker_scale: float | None = None):
    """A Principled BSDF material of colour `rgb` (also its viewport colour); a checker texture over it if asked."""
    material = bpy.data.materials.new(name)
    material.diffuse_color = (*rgb, 1.0)
    tree = material.node_tree
    bsdf = tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    if roughness is not None:
        bsdf.inputs["Roughness"].default_value = roughness
    if metallic is not None:
        bsdf.inputs["Metallic"].default_value = metallic
    if checker_scale is not None:
        checker = tree.nodes.new("ShaderNodeTexChecker")
        checker.inputs["Scale"].default_value = checker_scale
        tree.links.new(checker.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def ramp_textured(name: str, texture: str, colors, scale: float, roughness: float | None = None):
    """A Principled material coloured by a procedural texture node (e.g. ShaderNodeTexNoise) through a two-colour
    ramp."""
    material = bpy.data.materials.new(name)
    tree = material.node_tree
    bsdf = tree.nodes["Principled BSDF"]
    if roughness is not None:
        bsdf.inputs["Roughness"].default_value = roughness
    node = tree.nodes.new(texture)
    node.inputs["Scale"].default_value = scale
    ramp = tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color, ramp.color_ramp.elements[1].color = (*colors[0], 1), (*colors[1], 1)
    tree.links.new(node.outputs["Fac"] if "Fac" in node.outputs else node.outputs[0], ramp.inputs["Fac"])
    tree.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def emission(name: str, rgb=None, image_path: Path | None = None):
    """An emission-only material: the render shows exactly this colour (or this image through the UVs), unlit.
    With an image, its texture node is the tree's active node (the one Blender's texture paint targets)."""
    material = bpy.data.materials.new(name)
    tree = material.node_tree
    tree.nodes.clear()
    emit = tree.nodes.new("ShaderNodeEmission")
    if image_path is not None:
        node = tree.nodes.new("ShaderNodeTexImage")
        node.image = bpy.data.images.load(str(image_path))
        node.interpolation = "Linear"
        tree.links.new(node.outputs["Color"], emit.inputs["Color"])
        tree.nodes.active = node
    else:
        emit.inputs["Color"].default_value = (*rgb, 1.0)
    tree.links.new(emit.outputs["Emission"], tree.nodes.new("ShaderNodeOutputMaterial").inputs["Surface"])
    return material


# -- objects, cameras, lights, motion -----------------------------------------------------------------------------

def add_mesh(primitive: str, material=None, *, name: str | None = None, smooth: bool = False,
             pass_index: int | None = None, **place):
    """Add a mesh primitive (`bpy.ops.mesh.primitive_<primitive>_add(**place)`), named, with `material`."""
    getattr(bpy.ops.mesh, f"primitive_{primitive}_add")(**place)
    ob = bpy.context.object
    if name is not None:
        ob.name = name
    if pass_index is not None:
        ob.pass_index = pass_index
    if material is not None:
        ob.data.materials.append(material)
    if smooth:
        bpy.ops.object.shade_smooth()
    return ob


def add_camera(scene, location=(0, 0, 0), rotation=(0, 0, 0)):
    """A perspective camera, made the scene's camera."""
    bpy.ops.object.camera_add(location=location, rotation=rotation)
    scene.camera = bpy.context.object
    return scene.camera


def top_down_camera(scene):
    """An orthographic camera 10 units up looking straight down, PX_PER_UNIT px per unit across the frame."""
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    camera.location = (0, 0, 10)
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = scene.render.resolution_x / PX_PER_UNIT
    scene.camera = camera
    return camera


def add_light(kind: str = "SUN", energy: float | None = None, **place):
    """A light of `kind` (SUN, AREA, ...); Blender's default strength when `energy` is None."""
    bpy.ops.object.light_add(type=kind, **place)
    light = bpy.context.object
    if energy is not None:
        light.data.energy = energy
    return light


def keyframes(ob, attribute: str, values: dict, linear: bool = False) -> None:
    """Key `ob.<attribute>` (e.g. "location") to each value at its frame; linear interpolation if asked."""
    for frame, value in values.items():
        setattr(ob, attribute, value)
        ob.keyframe_insert(attribute, frame=frame)
    if linear:
        action = ob.animation_data.action
        curves = action.fcurves if hasattr(action, "fcurves") else [
            c for layer in action.layers for strip in layer.strips for bag in strip.channelbags for c in bag.fcurves]
        for curve in curves:
            for key in curve.keyframe_points:
                key.interpolation = "LINEAR"


# -- rendering ---------------------------------------------------------------------------------------------------

def render_frames(scene, folder: Path, color_mode: str = "RGB") -> list[tuple[Path, Path]]:
    """Render every frame of the scene into `folder`: frame_NNNN.exr (multilayer, 32-bit float, every pass) and
    frame_NNNN.png (8-bit, `color_mode`), as Blender writes them; (png, exr) per frame."""
    settings = scene.render.image_settings
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for frame in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(frame)
        bpy.ops.render.render()
        result = bpy.data.images["Render Result"]
        png, exr = folder / f"frame_{frame:04d}.png", folder / f"frame_{frame:04d}.exr"
        settings.media_type, settings.file_format = "MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER"
        settings.color_depth = "32"
        result.save_render(str(exr), scene=scene)
        settings.media_type, settings.file_format = "IMAGE", "PNG"
        settings.color_mode, settings.color_depth = color_mode, "8"
        result.save_render(str(png), scene=scene)
        pairs.append((png, exr))
    return pairs


# -- scenes used by more than one caller ----------------------------------------------------------------------------

def tiny_shot(size=(64, 48), *, samples: int = 2, frames: int = 1, fps: int | None = None, sphere: bool = True,
              cube_x=(-1.4, -1.4), camera_x=(0.0, 0.0), checker_floor: bool = False, sun_energy: float | None = 3.0):
    """The tests' tiny Cycles shot: a floor, a 'Cube' and a 'Sphere' (each its own Principled colour), a camera
    7 units back, a sun. `cube_x` and `camera_x` are the x at the first and last frame (keyed only where they
    differ), so a shot can move the cube or pan the camera."""
    scene = empty_scene(size, samples=samples, frames=frames, fps=fps, world_rgb=(0.3, 0.35, 0.4))
    add_mesh("plane", principled("Plane", (0.6, 0.5, 0.3), checker_scale=8.0 if checker_floor else None),
             size=30, location=(0, 0, -1))
    cube = add_mesh("cube", principled("Cube", (0.1, 0.3, 0.8)), name="Cube", size=1.8, location=(cube_x[0], 0, 0))
    if sphere:
        add_mesh("uv_sphere", principled("Sphere", (0.8, 0.2, 0.1)), name="Sphere", radius=1.0, location=(1.4, 0, 0))
    camera = add_camera(scene, location=(camera_x[0], -7, 1.5), rotation=(1.4, 0, 0))
    if frames > 1:
        for ob, (first, last) in ((cube, cube_x), (camera, camera_x)):
            if first != last:
                keyframes(ob, "location", {1: (first, *ob.location[1:]), frames: (last, *ob.location[1:])})
    add_light("SUN", sun_energy, rotation=(0.6, 0.2, 0.3))
    return scene


def textured_object(texture_png: Path, kind: str = "sphere"):
    """A fresh scene with one UV-mapped, smooth-shaded object ('sphere' or 'monkey' with a subdivision surface)
    whose material emits `texture_png`. Returns (scene, object, image texture node)."""
    scene = empty_scene(standard_view=True)  # texture_views.render_views sets the size, samples and passes
    if kind == "sphere":
        ob = add_mesh("uv_sphere", segments=48, ring_count=24, radius=1.0)
    else:
        ob = add_mesh("monkey", size=2.0)
        bpy.ops.object.modifier_add(type="SUBSURF")
    bpy.ops.object.shade_smooth()
    material = emission("Textured", image_path=texture_png)
    ob.data.materials.append(material)
    return scene, ob, material.node_tree.nodes.active


def render_orbit(scene, ob, folder: Path, count: int, size_px: int, samples: int = 4) -> tuple[list[Path], int]:
    """`count` views of `ob` from an orbit of cameras (EXR passes with UV + display PNG each) into `folder`, through
    the add-on's own texture_views; (EXR paths, the object's pass index)."""
    from nst_addon.texture_views import orbit_cameras, remove_cameras, render_views

    cameras = orbit_cameras(scene, ob, count)
    try:
        return render_views(scene, ob, cameras, folder, size_px=size_px, samples=samples)
    finally:
        remove_cameras(cameras)
