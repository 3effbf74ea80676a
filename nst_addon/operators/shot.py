"""The set-up the scene operators share: the active camera, the folder the frames go in, the frames' files, the
render steps for frames not rendered yet, and the per-object regions (with the passes they need)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import bpy

from .. import rendering
from ..preferences import fresh_job_folder
from ..property_groups.scene import scene_settings
from ..rendering import FrameFiles
from ..worker_client import AddonError
from .runner import Step


@dataclass(frozen=True)
class Shot:
    """Frames of the scene and the folder their files go in (render/ and stylized/ inside it)."""

    folder: Path
    frames: range

    def files(self, frames: Iterable[int] | None = None) -> list[tuple[int, FrameFiles]]:
        """Each frame (of the shot, or of `frames`) with its files."""
        return [(frame, FrameFiles.in_folder(self.folder, frame)) for frame in (self.frames if frames is None
                                                                                  else frames)]


def frame_range_shot(scene: bpy.types.Scene, purpose: str) -> Shot:
    """The scene's frame range into its output folder, after the checks: an active camera and an output folder
    (`purpose`: what the folder is for, in the message that asks for one)."""
    rendering.check_camera(scene)
    settings = scene_settings(scene)
    if not settings.output_folder:
        raise AddonError(f"set an output folder {purpose}")
    return Shot(Path(bpy.path.abspath(settings.output_folder)),
                range(scene.frame_start, scene.frame_end + 1, scene.frame_step))


def current_frame_shot(scene: bpy.types.Scene, job: str) -> Shot:
    """The current frame into our job folder `job` (emptied first, unless it holds one of the job's inputs), after
    checking for an active camera."""
    rendering.check_camera(scene)
    return Shot(fresh_job_folder(job, rendering.job_inputs(scene)), range(scene.frame_current, scene.frame_current + 1))


def object_regions(scene: bpy.types.Scene, with_motion: bool) -> tuple[dict[str, dict], list[str]]:
    """Check per-object style files, set up passes and pass indices; the worker's regions and what changed."""
    rendering.region_settings(scene)  # validates style files before anything in the scene changes
    changes = rendering.prepare_passes(scene, with_motion)
    if changes:
        scene_settings(scene).render_changes = "; ".join(changes)
    return rendering.region_settings(scene), changes


def render_steps(scene: bpy.types.Scene, frames: list[tuple[int, FrameFiles]], overwrite: bool) -> list[Step]:
    """A render step for each frame whose files are missing (or every frame, when overwriting)."""
    steps = []
    for frame, files in frames:
        if overwrite or not files.rendered:

            def render(frame=frame, files=files):
                scene.frame_set(frame)
                rendering.render_frame(scene, files)
                return None

            steps.append(Step(f"render frame {frame}", render, lambda result: None, render_only=True))
    return steps
