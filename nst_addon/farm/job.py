"""The farm job of the open .blend: built from the scene's settings and checked, as an OpenJD job or as the body of
Flamenco's POST /api/v3/jobs; and the save the farm needs (it renders the saved file)."""

from __future__ import annotations

import getpass
import platform
from pathlib import Path
from typing import TYPE_CHECKING

import bpy

from ..extension import EXTENSION_ROOT, sibling
from ..preferences import engine_settings
from ..property_groups.farm import farm_settings
from ..property_groups.scene import scene_settings
from .flamenco import FLAMENCO_JOB_TYPE

if TYPE_CHECKING:
    from farm.openjd import bundle as openjd
else:
    openjd = sibling("farm.openjd.bundle")


def job_from_scene(scene: bpy.types.Scene | None) -> openjd.NstJob:
    """The farm job for the .blend and its scene's settings; raises ValueError saying what to fix."""
    assert scene is not None, "no scene in this context"
    if not bpy.data.filepath:
        raise ValueError("the .blend has never been saved: save it where the farm's workers can read it")
    settings, farm = scene_settings(scene), farm_settings(scene)
    if not len(settings.styles):
        raise ValueError("the scene has no style: add one in Render Properties > Neural Style")
    if any(item.image is None and not item.filepath for item in settings.styles):
        raise ValueError("a style in the list has no file: choose a file or remove it")
    if scene.camera is None:
        raise ValueError(f"the scene '{scene.name}' has no active camera: the workers could not render it")
    code = farm.worker_code_folder or str(EXTENSION_ROOT)
    job = openjd.NstJob(
        blend_file=bpy.data.filepath, output_dir="",
        frames=(scene.frame_start, scene.frame_end), styles=[], chunk_size=farm.chunk_size, chunking=farm.chunking,
        warmup=farm.warmup, keyframes=farm.keyframes, method=settings.method.lower(), size=settings.final_size_px,
        iterations=settings.final_iterations, fps=farm.fps or scene.render.fps / scene.render.fps_base,
        python=farm.worker_python or engine_settings().python, code_folder=code,
        blender=farm.worker_blender if farm.worker_command == "BLENDER" else "", priority=farm.priority)
    # One sub-folder of the scene's output folder per job, as Flamenco's own add-on names it for nst-stylize.
    job.output_dir = str(Path(bpy.path.abspath(settings.output_folder)) / job.job_name)
    job.validate()
    return job


def write_bundle(job: openjd.NstJob, folder: Path) -> Path:
    """The OpenJD job bundle folder of `job`, made new inside `folder`."""
    return openjd.write_bundle(job, folder)


def flamenco_job(job: openjd.NstJob, engine_python: str) -> dict:
    """The body of POST /api/v3/jobs for the nst-stylize job type (settings named as in nst_stylize.js).
    `engine_python` empty: each worker uses its add-on preference, else Blender's own Python."""
    return {
        "name": job.job_name,
        "type": FLAMENCO_JOB_TYPE,
        "priority": job.priority,
        "submitter_platform": platform.system().lower(),
        "settings": {
            "frames": job.frame_range, "chunk_size": job.chunk_size, "chunking": job.chunking,
            "warmup": job.warmup, "keyframes": job.keyframes, "styles": ";".join(job.styles),
            "method": job.method, "size": job.size, "iterations": job.iterations, "device": job.device,
            "engine_python": engine_python, "batch_script": f"{job.code_folder}/{openjd.BATCH_SCRIPT}",
            "output_dir": job.output_dir, "blendfile": job.blend_file, "fps": job.fps,
        },
        "metadata": {"user.name": _user_name(), "project": Path(job.blend_file).stem,
                     "blender.version": bpy.app.version_string},
    }


def save_blend() -> str:
    """Saves the open .blend when it has unsaved changes (the farm renders the saved file); returns a note."""
    if not bpy.data.is_dirty:
        return ""
    bpy.ops.wm.save_mainfile()
    return f" (saved {Path(bpy.data.filepath).name} first)"


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"
