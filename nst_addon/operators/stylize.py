"""Stylize Render (the current frame, shown in an Image Editor) and Stylize Animation (the frame range into the
output folder, frame by frame or as one flicker-free sequence job)."""

from __future__ import annotations

from pathlib import Path

import bpy

from .. import rendering
from ..images import load_result, show_in_image_editor
from ..preferences import user_folder
from ..property_groups.scene import scene_settings
from .runner import Step, WorkerOperator
from .shot import current_frame_shot, frame_range_shot, object_regions, render_steps

RESULT_IMAGE = "NST Stylized Render"


class NST_OT_stylize_render(WorkerOperator):
    """Render the current frame with the passes the styles need and stylize it; the result opens in an Image Editor"""

    bl_idname = "nst.stylize_render"
    bl_label = "Stylize Render"

    def plan(self, context):
        scene = context.scene
        shot = current_frame_shot(scene, "render")
        styles, weights = rendering.scene_styles(scene_settings(scene), shot.folder)
        regions, changes = object_regions(scene, with_motion=False)
        ((frame, files),) = shot.files()
        use_last = scene_settings(scene).use_last_render and not changes  # a changed pass needs a new render

        def prepare():
            rendering.render_frame(scene, files, render=not use_last)
            files.stylized.parent.mkdir(parents=True, exist_ok=True)
            return rendering.stylize_request(scene, self.engine, files, styles, weights, regions)

        def finish(result):
            image = load_result(Path(result["output"]), RESULT_IMAGE, rendering.render_size(scene))
            image["nst_content"] = str(files.display)
            show_in_image_editor(context, image)

        return [Step(f"frame {frame}", prepare, finish)]

    def finished(self, context, done, skipped):
        return f"stylized the render into the image '{RESULT_IMAGE}'"


class NST_OT_stylize_animation(WorkerOperator):
    """Render and stylize the scene's frame range into the output folder; frames already stylized are skipped"""

    bl_idname = "nst.stylize_animation"
    bl_label = "Stylize Animation"

    def plan(self, context):
        scene = context.scene
        settings = scene_settings(scene)
        shot = frame_range_shot(scene, "for the animation")
        styles, weights = rendering.scene_styles(settings, user_folder("jobs", "animation-styles"))
        regions, _ = object_regions(scene, with_motion=True)
        self.folder = shot.folder
        frames = shot.files()
        if settings.temporal:
            return self._sequence_steps(scene, frames, styles, weights, regions, settings.overwrite)
        return [self._frame_step(scene, frame, files, styles, weights, regions, settings.overwrite)
                for frame, files in frames]

    def _frame_step(self, scene, frame, files, styles, weights, regions, overwrite) -> Step:
        """One frame on its own: rendered when missing, skipped when already stylized."""

        def prepare():
            if files.stylized.is_file() and not overwrite:
                return None
            if overwrite or not files.rendered:
                scene.frame_set(frame)
                rendering.render_frame(scene, files)
            files.stylized.parent.mkdir(parents=True, exist_ok=True)
            return rendering.stylize_request(scene, self.engine, files, styles, weights, regions)

        return Step(f"frame {frame}", prepare, lambda result: None)

    def _sequence_steps(self, scene, frames, styles, weights, regions, overwrite) -> list[Step]:
        """Flicker-free: render what is missing, then one sequence job (the engine skips finished frames)."""
        steps = render_steps(scene, frames, overwrite)

        def sequence():
            frames[0][1].stylized.parent.mkdir(parents=True, exist_ok=True)
            return rendering.sequence_request(scene, self.engine, [files for _, files in frames], styles, weights,
                                              regions)

        def finish(result):
            self.sequence_counts = (len(result["written"]), len(result["skipped"]))
            for path in result["skipped"]:
                print(f"[nst] {Path(path).name}: already stylized, skipped", flush=True)
            for path, motion in zip(result["written"], result.get("flow", [])):
                print(f"[nst] {Path(path).name}: stylized -> {path} (motion: {motion})", flush=True)

        steps.append(Step(f"frames {frames[0][0]}-{frames[-1][0]}", sequence, finish))
        return steps

    def finished(self, context, done, skipped):
        if hasattr(self, "sequence_counts"):
            done, skipped = self.sequence_counts
        return f"animation: {done} frame(s) stylized, {skipped} already done, in {self.folder / 'stylized'}"
