"""Everything between the scene and the engine's request: checks, render passes, pass indices, frame files.

A frame is rendered once and written twice: a display PNG (the view transform applied, what is stylized) and a
multilayer EXR (Combined plus Object Index, Depth and Vector passes). Files appear atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

from .images import export_png, remove_quietly
from .preferences import EngineSettings
from .property_groups.objects import object_settings
from .property_groups.scene import (ANY_STYLE_MODEL, MODEL_NAMED_LIKE_STYLE, NST_SceneSettings, scene_settings,
                                    trained_model_names)
from .worker_client import AddonError, refuse_writing

MASK_PASS_ENGINES = {"CYCLES"}


def check_camera(scene: bpy.types.Scene) -> None:
    if scene.camera is None:
        raise AddonError(f"the scene '{scene.name}' has no active camera; add one (Add > Camera) and make it "
                         "active (View > Cameras > Set Active Object as Camera)")


def render_size(scene: bpy.types.Scene) -> tuple[int, int]:
    scale = scene.render.resolution_percentage / 100.0
    return max(1, round(scene.render.resolution_x * scale)), max(1, round(scene.render.resolution_y * scale))


def styled_objects(scene: bpy.types.Scene) -> list[bpy.types.Object]:
    """Objects with their own style or kept original, in a stable order."""
    return sorted((ob for ob in scene.objects if object_settings(ob).mode != "INHERIT" and not ob.hide_render),
                  key=lambda ob: ob.name)


def shaped_objects(scene: bpy.types.Scene) -> list[bpy.types.Object]:
    """Objects with their own Keep Shapes, in a stable order."""
    return sorted((ob for ob in scene.objects if object_settings(ob).own_keep_shapes and not ob.hide_render),
                  key=lambda ob: ob.name)


def keep_shapes(scene: bpy.types.Scene) -> bool:
    """Whether the structure term runs: the Quality method on Cycles (its passes), with Keep Shapes somewhere."""
    settings = scene_settings(scene)
    wanted = settings.keep_shapes > 0 or any(object_settings(ob).keep_shapes > 0 for ob in shaped_objects(scene))
    return wanted and settings.method == "QUALITY" and scene.render.engine in MASK_PASS_ENGINES


def style_file(path: str, what: str) -> str:
    """The style image at `path` (relative to the .blend allowed) as an absolute path; AddonError naming `what`."""
    resolved = Path(bpy.path.abspath(path)) if path else None
    if resolved is None or not path:
        raise AddonError(f"{what} has no style image; choose one")
    if not resolved.is_file():
        raise AddonError(f"{what}: the style image {resolved} does not exist; choose another file")
    return str(resolved)


def scene_styles(settings: NST_SceneSettings, job_folder: Path) -> tuple[list[str], list[float]]:
    """Style files and blend weights from the scene's list; Blender images are exported to the job folder."""
    paths, weights = [], []
    for index, item in enumerate(settings.styles):
        if item.weight <= 0:
            continue
        if item.image is not None:
            path = job_folder / f"style_{index}.png"
            try:
                export_png(item.image, path)
            except (ValueError, RuntimeError) as exc:
                raise AddonError(f"style {index + 1} ('{item.image.name}'): {exc}") from None
            paths.append(str(path))
        else:
            paths.append(style_file(item.filepath, f"style {index + 1}"))
        weights.append(item.weight)
    if not paths:
        raise AddonError("no style chosen; add a style image in the Neural Style panel (Render properties)")
    return paths, weights


def assign_pass_indices(scene: bpy.types.Scene) -> list[str]:
    """Give each styled object a pass index no other object uses; returns what was changed, in words."""
    styled = sorted(set(styled_objects(scene)) | set(shaped_objects(scene)), key=lambda ob: ob.name)
    styled_set = set(styled)
    taken = {ob.pass_index for ob in scene.objects if ob not in styled_set} | {0}
    changes, mine = [], set()
    for ob in styled:
        if ob.pass_index in taken or ob.pass_index in mine:
            new = 1
            while new in taken or new in mine:
                new += 1
            changes.append(f"'{ob.name}': pass index {ob.pass_index} -> {new}")
            ob.pass_index = new
        mine.add(ob.pass_index)
    return changes


def prepare_passes(scene: bpy.types.Scene, with_motion: bool) -> list[str]:
    """Turn on the passes we need (Object Index for per-object settings; Depth and Vector for animations; Depth and
    Normal for Keep Shapes)."""
    changes = []
    needs_index = bool(styled_objects(scene)) or (keep_shapes(scene) and bool(shaped_objects(scene)))
    if needs_index and scene.render.engine not in MASK_PASS_ENGINES:
        raise AddonError("per-object styles need the Object Index pass, which only Cycles renders; set the render "
                         "engine to Cycles, or set every object's style to Scene Style")
    view_layer = bpy.context.view_layer if bpy.context.view_layer in scene.view_layers[:] else scene.view_layers[0]
    wanted = [("use_pass_object_index", "Object Index", needs_index)]
    if with_motion and scene.render.engine in MASK_PASS_ENGINES:
        wanted += [("use_pass_z", "Depth", True), ("use_pass_vector", "Vector", not scene.render.use_motion_blur)]
    if keep_shapes(scene):
        wanted += [("use_pass_z", "Depth", True), ("use_pass_normal", "Normal", True)]
    for attribute, label, needed in wanted:
        if needed and not getattr(view_layer, attribute):
            setattr(view_layer, attribute, True)
            changes.append(f"turned on the {label} pass of view layer '{view_layer.name}'")
    if needs_index:
        changes += assign_pass_indices(scene)
    return changes


def region_settings(scene: bpy.types.Scene) -> dict[str, dict]:
    """The worker's `regions`: per pass index, the object's own style and strength, or keep original."""
    regions: dict[str, dict] = {}
    for ob in styled_objects(scene):
        own = object_settings(ob)
        if own.mode == "KEEP":
            regions[str(ob.pass_index)] = {"keep_original": True}
        elif scene_settings(scene).method == "FAST" and fast_model(scene) != ANY_STYLE_MODEL:
            style = style_file(own.style_path, f"object '{ob.name}'")
            regions[str(ob.pass_index)] = {"model": Path(style).stem, "strength": own.strength}
        else:
            regions[str(ob.pass_index)] = {"styles": [style_file(own.style_path, f"object '{ob.name}'")],
                                           "strength": own.strength}
    if keep_shapes(scene):
        for ob in shaped_objects(scene):
            regions.setdefault(str(ob.pass_index), {})["structure"] = object_settings(ob).keep_shapes
    return regions


def method_fields(settings: NST_SceneSettings, style_paths: list[str], own_styles: list[str] | tuple = ()
                  ) -> dict[str, str]:
    """Fast: the model picked; else the one named like the style's file when every style (the objects' own too)
    has a trained model (the engine finds it in the model folders); else the any-style network, no training."""
    if settings.method != "FAST":
        return {}
    if settings.fast_model != MODEL_NAMED_LIKE_STYLE:
        return {"model": settings.fast_model}
    trained = trained_model_names()
    if len(style_paths) == 1 and all(p and Path(p).stem in trained for p in (*style_paths, *own_styles)):
        return {"model": Path(style_paths[0]).stem}
    return {"model": ANY_STYLE_MODEL}


def job_inputs(scene: bpy.types.Scene | None) -> dict[str, list[str]]:
    """The files a job of the scene reads besides its render: the scene's styles (files, and the files behind
    Blender images) and the objects' own styles, as absolute paths."""
    assert scene is not None, "no scene in this context"
    settings = scene_settings(scene)
    styles = [bpy.path.abspath(item.filepath) for item in settings.styles if item.image is None and item.filepath]
    images = [bpy.path.abspath(item.image.filepath) for item in settings.styles
              if item.image is not None and item.image.filepath and not item.image.packed_file]
    objects = [bpy.path.abspath(path) for path in own_styles(scene) if path]
    return {"a style": styles, "a style image's file": images, "an object's own style": objects}


def own_styles(scene: bpy.types.Scene) -> list[str]:
    return [object_settings(ob).style_path for ob in styled_objects(scene) if object_settings(ob).mode == "OWN"]


def fast_model(scene: bpy.types.Scene) -> str:
    """The model the Fast method uses for this scene (a Blender image as the style has no trained model)."""
    settings = scene_settings(scene)
    styles = [item.filepath if item.image is None else "" for item in settings.styles if item.weight > 0]
    return method_fields(settings, styles, own_styles(scene)).get("model", "")


@dataclass
class FrameFiles:
    """One frame's files: the display PNG that is stylized, its passes, and the stylized result."""

    display: Path
    passes: Path
    stylized: Path

    @classmethod
    def in_folder(cls, folder: Path, frame: int) -> "FrameFiles":
        name = f"frame_{frame:04d}"
        return cls(folder / "render" / f"{name}.png", folder / "render" / f"{name}.exr",
                   folder / "stylized" / f"{name}.png")

    @property
    def rendered(self) -> bool:
        return self.display.is_file() and self.passes.is_file()


def save_render(scene: bpy.types.Scene, path: Path, multilayer: bool) -> None:
    """Save the Render Result with the scene's colour management, atomically, in PNG or multilayer EXR."""
    settings = scene.render.image_settings
    saved = {name: getattr(settings, name) for name in ("media_type", "file_format", "color_mode", "color_depth")}
    saved_codec = settings.exr_codec
    temp = path.with_name(f".{path.stem}.part{path.suffix}")
    refuse_writing(path, "a render the job writes")
    refuse_writing(temp, "a temporary render file")
    try:
        if multilayer:
            settings.media_type = "MULTI_LAYER_IMAGE"
            settings.file_format = "OPEN_EXR_MULTILAYER"
            settings.color_depth = "32"
            settings.exr_codec = "ZIP"
        else:
            settings.media_type = "IMAGE"
            settings.file_format = "PNG"
            settings.color_mode = "RGBA" if scene.render.film_transparent else "RGB"  # alpha for compositing
            settings.color_depth = "8"
        bpy.data.images["Render Result"].save_render(str(temp), scene=scene)
        os.replace(temp, path)
    finally:
        remove_quietly(temp)
        for name in ("media_type", "file_format", "color_mode", "color_depth"):
            try:
                setattr(settings, name, saved[name])
            except TypeError:
                pass
        settings.exr_codec = saved_codec


def has_last_render() -> bool:
    result = bpy.data.images.get("Render Result")
    return result is not None and result.has_data


def render_frame(scene: bpy.types.Scene, files: FrameFiles, render: bool = True) -> None:
    """Render the scene's current frame (or take the last render) into `files.display` and `files.passes`."""
    if render:
        bpy.ops.render.render(scene=scene.name)
    elif not has_last_render():
        raise AddonError("there is no render to stylize yet; render first (F12) or turn off Use Last Render")
    save_frame(scene, files)


def save_frame(scene: bpy.types.Scene, files: FrameFiles) -> None:
    """The Render Result as the engine reads it: `files.passes` (multilayer EXR) and `files.display` (PNG)."""
    files.display.parent.mkdir(parents=True, exist_ok=True)
    save_render(scene, files.passes, multilayer=True)
    save_render(scene, files.display, multilayer=False)


def sequence_request(scene: bpy.types.Scene, engine: EngineSettings, frames: list[FrameFiles],
                     style_paths: list[str], style_weights: list[float], regions: dict[str, dict]) -> dict:
    """The worker's `stylize_sequence` request: frames in order, each held to the earlier ones (temporal)."""
    settings = scene_settings(scene)
    size_px, iterations = settings.size_and_iterations(max(render_size(scene)))
    request: dict[str, Any] = {
        "type": "stylize_sequence", "styles": style_paths, "style_blend": style_weights,
        "frames": [{"content": str(f.display), "passes": str(f.passes), "output": str(f.stylized)} for f in frames],
        "options": {"size_px": size_px, "iterations": iterations, "seed": settings.seed,
                    "style_strength": settings.strength, "preserve_color": settings.preserve_color},
        "temporal": True, "temporal_weight": settings.temporal_weight, "overwrite": settings.overwrite,
        "structure": settings.keep_shapes if keep_shapes(scene) else 0.0,
        **engine.request_fields(),
        **method_fields(settings, style_paths, own_styles(scene)),
    }
    if regions:
        request["regions"] = regions
    return request


def stylize_request(scene: bpy.types.Scene, engine: EngineSettings, files: FrameFiles, style_paths: list[str],
                    style_weights: list[float], regions: dict[str, dict]) -> dict:
    """The worker's `stylize` request for one frame."""
    settings = scene_settings(scene)
    size_px, iterations = settings.size_and_iterations(max(render_size(scene)))
    request: dict[str, Any] = {
        "type": "stylize", "content": str(files.display), "styles": style_paths, "style_blend": style_weights,
        "output": str(files.stylized),
        "options": {"size_px": size_px, "iterations": iterations, "seed": settings.seed,
                    "style_strength": settings.strength, "preserve_color": settings.preserve_color,
                    "full_resolution": True},  # back at the render's size, kept objects exact even in previews
        **engine.request_fields(),
        **method_fields(settings, style_paths, own_styles(scene)),
    }
    if regions:
        request.update(mask=str(files.passes), regions=regions, ignore_absent_regions=True)
    if keep_shapes(scene):
        request.update(passes=str(files.passes), structure=settings.keep_shapes)
    return request
