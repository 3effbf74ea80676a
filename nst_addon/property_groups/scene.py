"""The scene's Neural Style settings (`scene.nst`): the style list, strength, method, presets, animation output."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Callable

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from ..extension import EXTENSION_ROOT
from ..preferences import engine_settings

MODEL_NAMED_LIKE_STYLE = "NAMED_LIKE_STYLE"
ANY_STYLE_MODEL = "any"  # the engine's any-style network: any painting, no training
_MODEL_ITEMS: list[tuple[str, str, str]] = []  # Blender needs the enum's strings kept alive


class NST_StyleItem(bpy.types.PropertyGroup):
    """One style in the scene's list: an image file or a Blender image, with its blend weight."""

    filepath: StringProperty(name="File", subtype="FILE_PATH")  # type: ignore[valid-type]
    image: PointerProperty(name="Image", type=bpy.types.Image,  # type: ignore[valid-type]
                           description="A Blender image to use instead of a file")
    weight: FloatProperty(name="Weight", default=1.0, min=0.0, soft_max=1.0,  # type: ignore[valid-type]
                          description="Share of this style in the blend")
    licence: StringProperty(name="Licence", default="")  # type: ignore[valid-type]

    @property
    def label(self) -> str:
        if self.image is not None:
            return self.image.name
        return Path(self.filepath).name or "(no file)"


def trained_model_names() -> set[str]:
    """The trained Fast models in the bundled and user model folders."""
    folders = [EXTENSION_ROOT / "models", Path(engine_settings().models_folder)]
    return {p.name.removesuffix(".safetensors") for folder in folders if folder.is_dir()
            for p in folder.glob("*.safetensors") if not p.name.endswith(".ckpt.safetensors")}


def tuned_model_names() -> set[str]:
    """The models in the user model folder tuned from the any-style network (`kind` 'tuned' in the header that
    .safetensors keeps before its tensors); an unreadable file is not one."""
    folder = Path(engine_settings().models_folder)
    names = set()
    for path in folder.glob("*.safetensors") if folder.is_dir() else ():
        try:
            with path.open("rb") as handle:
                header = json.loads(handle.read(struct.unpack("<Q", handle.read(8))[0]))
            if json.loads(header["__metadata__"]["nst"]).get("kind") == "tuned":
                names.add(path.name.removesuffix(".safetensors"))
        except (OSError, ValueError, KeyError, TypeError, struct.error, MemoryError):
            continue
    return names


def fast_model_items() -> list[tuple[str, str, str]]:
    """The model picker: 'named like the style', any painting, then every trained model."""
    _MODEL_ITEMS[:] = [
        (MODEL_NAMED_LIKE_STYLE, "Named like the style",
         "The trained model named like the style's file; the any-style network when there is none"),
        (ANY_STYLE_MODEL, "Any painting (no training)", "The any-style network: any painting or blend, no training")
    ] + [(name, name, f"The trained model '{name}'") for name in sorted(trained_model_names())]
    return _MODEL_ITEMS


def _fast_model_enum(self, context) -> list[tuple[str, str, str]]:
    return fast_model_items()


# Set by nst_addon.stylize_on_render when it registers: turns on the passes its renders need
STYLIZE_ON_RENDER_TURNED_ON: Callable[[bpy.types.Scene], None] | None = None


def _stylize_on_render_changed(self, context) -> None:
    if self.stylize_on_render and STYLIZE_ON_RENDER_TURNED_ON is not None:
        STYLIZE_ON_RENDER_TURNED_ON(self.id_data)


class NST_SceneSettings(bpy.types.PropertyGroup):
    styles: CollectionProperty(type=NST_StyleItem)  # type: ignore[valid-type]
    active_style_index: IntProperty(default=0)  # type: ignore[valid-type]
    strength: FloatProperty(  # type: ignore[valid-type]
        name="Strength", default=1.0, min=0.0, max=1.0, subtype="FACTOR",
        description="How strongly the style replaces the render's look")
    keep_shapes: FloatProperty(  # type: ignore[valid-type]
        name="Keep Shapes", default=0.5, min=0.0, max=1.0, subtype="FACTOR",
        description="Quality method: keep silhouettes and edges legible by holding the colour steps where the "
                    "render's Depth, Object Index and Normal passes change (Cycles turns them on); 0 = off")
    preserve_color: EnumProperty(  # type: ignore[valid-type]
        name="Preserve Colour",
        items=[("none", "Off", "Take the style's colours"),
               ("luminance", "Luminance", "Keep the render's colours; take the style's brush strokes only"),
               ("histogram", "Histogram", "Recolour the style to the render's palette first")],
        default="none")
    method: EnumProperty(  # type: ignore[valid-type]
        name="Method",
        items=[("QUALITY", "Quality", "Optimise each image against the style (slow, best)"),
               ("FAST", "Fast", "About a second a frame: a network trained for the style when there is one, else "
                                "the any-style network (any painting, no training)")],
        default="QUALITY")
    fast_model: EnumProperty(  # type: ignore[valid-type]
        name="Model", items=_fast_model_enum,
        description="The trained network the Fast method uses")
    train_steps: IntProperty(  # type: ignore[valid-type]
        name="Training Steps", default=300, min=1,
        description="Train from This Scene: optimizer steps (more is closer to the style, and slower)")
    train_crop_px: IntProperty(  # type: ignore[valid-type]
        name="Training Crop", default=128, min=32, subtype="PIXEL",
        description="Train from This Scene: size of the random crops the network learns from")
    tune_minutes: FloatProperty(  # type: ignore[valid-type]
        name="Tuning Minutes", default=4.5, min=0.05, max=600.0,
        description="Tune to Painting / Tune to This Shot: the time budget of the tuning (it also stops at 300 steps)")
    tune_keyframes: IntProperty(  # type: ignore[valid-type]
        name="Tuning Keyframes", default=4, min=1, max=1000,
        description="Tune to This Shot: how many frames of the range, evenly spread, the tuning learns on")
    preset: EnumProperty(  # type: ignore[valid-type]
        name="Preset",
        items=[("PREVIEW", "Preview", "Small and quick, to judge a style"),
               ("FINAL", "Final", "Full size and all iterations")],
        default="PREVIEW")
    preview_size_px: IntProperty(name="Preview Size", default=256, min=16, subtype="PIXEL")  # type: ignore[valid-type]
    preview_iterations: IntProperty(name="Preview Iterations", default=50, min=1)  # type: ignore[valid-type]
    final_size_px: IntProperty(  # type: ignore[valid-type]
        name="Final Size", default=0, min=0, subtype="PIXEL",
        description="Longest side of the result in pixels; 0 = the render's own size")
    final_iterations: IntProperty(name="Final Iterations", default=300, min=1)  # type: ignore[valid-type]
    seed: IntProperty(name="Seed", default=0, min=0)  # type: ignore[valid-type]
    use_last_render: BoolProperty(  # type: ignore[valid-type]
        name="Use Last Render", default=False,
        description="Stylize the last render instead of rendering again")
    output_folder: StringProperty(  # type: ignore[valid-type]
        name="Output Folder", subtype="DIR_PATH", default="//nst/",
        description="Animations go to render/ (multilayer EXR and display PNG) and stylized/ in here")
    temporal: BoolProperty(  # type: ignore[valid-type]
        name="Flicker-Free", default=True,
        description="Animations: hold each frame to the earlier stylized frames, warped by the render's motion "
                    "vectors, so the style does not flicker (later frames also take half the iterations)")
    temporal_weight: FloatProperty(  # type: ignore[valid-type]
        name="Temporal Weight", default=50.0, min=0.0, soft_max=500.0,
        description="How strongly a frame is held to the earlier ones; more is steadier, less follows the style")
    stylize_on_render: BoolProperty(  # type: ignore[valid-type]
        name="Stylize on Render", default=False, update=_stylize_on_render_changed,
        description="F12, Ctrl+F12 and command-line renders write the stylized frame to the scene's output path; "
                    "the raw render is kept in raw/ beside it (see docs/blender.md)")
    compositor_layers: BoolProperty(  # type: ignore[valid-type]
        name="Compositor Layers", default=False,
        description="Stylize on Render also writes layers/<frame>.exr: the render's passes and a Stylized layer "
                    "(the stylized frame, and each styled object's own pass) for the compositor's NST Mix node")
    overwrite: BoolProperty(  # type: ignore[valid-type]
        name="Overwrite", default=False,
        description="Render and stylize again frames that already have files; off = resume where it stopped")
    relink_texture: BoolProperty(  # type: ignore[valid-type]
        name="Use in Material", default=False,
        description="Make the Image Texture node use the stylized image (the original image is kept)")
    render_changes: StringProperty(default="")  # type: ignore[valid-type]
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")  # type: ignore[valid-type]
    status: StringProperty(default="")  # type: ignore[valid-type]
    running: BoolProperty(default=False)  # type: ignore[valid-type]

    def size_and_iterations(self, render_longest_px: int) -> tuple[int, int]:
        if self.preset == "PREVIEW":
            return min(self.preview_size_px, render_longest_px), self.preview_iterations
        return (self.final_size_px or render_longest_px), self.final_iterations


def scene_settings(scene: bpy.types.Scene | None) -> NST_SceneSettings:
    """The scene's Neural Style settings (`scene.nst`, added at registration)."""
    assert scene is not None, "no scene in this context"
    return getattr(scene, "nst")
