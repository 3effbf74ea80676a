"""The scene's farm settings (`scene.nst_farm`): which farm, how the shot is cut into chunks, what the workers run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from ..extension import sibling

if TYPE_CHECKING:
    from farm.openjd import bundle as openjd
else:
    openjd = sibling("farm.openjd.bundle")


class NST_FarmSettings(bpy.types.PropertyGroup):
    target: EnumProperty(  # type: ignore[valid-type]
        name="Farm",
        items=[("OPENJD", "Deadline Cloud / OpenJD", "Write an Open Job Description job bundle folder; submit it "
                                                     "with `deadline bundle submit FOLDER`"),
               ("FLAMENCO", "Flamenco", "Send the job to a Flamenco Manager (needs the nst-stylize job type)")],
        default="OPENJD")
    manager_url: StringProperty(  # type: ignore[valid-type]
        name="Manager URL", default="http://localhost:8080",
        description="The Flamenco Manager's address, as its web interface shows it")
    bundle_folder: StringProperty(  # type: ignore[valid-type]
        name="Bundle Folder", subtype="DIR_PATH", default="//farm/",
        description="Each export makes a new job bundle folder in here (existing ones are never overwritten)")
    chunk_size: IntProperty(  # type: ignore[valid-type]
        name="Chunk Size", default=12, min=1, description="Frames per render task and per stylize task")
    chunking: EnumProperty(  # type: ignore[valid-type]
        name="Chunking",
        items=[("strict", "Strict", "Chunks are stylized one after another, each continuing from the previous "
                                    "chunk's last frame: exactly the one-machine result, no parallel stylizing"),
               ("overlap", "Overlap", "Chunks are stylized side by side; each starts Warmup frames early and is "
                                      "crossfaded into the one before"),
               ("anchors", "Anchors", "A network trained on keyframes of the shot stylizes all chunks side by side")],
        default="strict")
    warmup: IntProperty(  # type: ignore[valid-type]
        name="Warmup", default=4, min=0,
        description="Overlap and anchors: frames before each chunk that it runs again, so the look carries across")
    keyframes: IntProperty(  # type: ignore[valid-type]
        name="Keyframes", default=4, min=1, description="Anchors: keyframes the shot's network is trained on")
    priority: IntProperty(name="Priority", default=50, min=0, max=100)  # type: ignore[valid-type]
    worker_command: EnumProperty(  # type: ignore[valid-type]
        name="Workers Run",
        items=[("BLENDER", "Blender", f"blender -b scene.blend {' '.join(openjd.BLENDER_EXIT_CODE)} -P "
                                      f"{openjd.BATCH_SCRIPT}"),
               ("PYTHON", "Python with bpy", "The worker Python runs Blender as a module (pip install bpy)")],
        default="BLENDER", description="OpenJD: how the workers open the scene")
    worker_blender: StringProperty(  # type: ignore[valid-type]
        name="Worker Blender", default="blender",
        description="OpenJD: the Blender executable on the workers (Flamenco uses its own {blender} variable)")
    worker_python: StringProperty(  # type: ignore[valid-type]
        name="Worker Python", default="",
        description="A Python with PyTorch on the workers (OpenJD also encodes the video with it); empty = the "
                    "engine Python of the add-on's preferences")
    worker_code_folder: StringProperty(  # type: ignore[valid-type]
        name="Worker Code Folder", default="",
        description="This add-on's folder (with scripts/blender_batch.py) as the workers see it; empty = where "
                    "it is installed here")
    fps: FloatProperty(name="FPS", default=0.0, min=0.0,  # type: ignore[valid-type]
                       description="Frame rate of the video; 0 = the scene's")
    status: StringProperty(default="")  # type: ignore[valid-type]


def farm_settings(scene: bpy.types.Scene | None) -> NST_FarmSettings:
    """The scene's farm settings (`scene.nst_farm`, added at registration)."""
    assert scene is not None, "no scene in this context"
    return getattr(scene, "nst_farm")
