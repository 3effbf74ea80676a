"""Train from This Scene, Tune to Painting and Tune to This Shot: render frames of the range and, in the worker,
train a Fast model on them, or tune the any-style network to a painting (on the renders) or to the shot (on keyframes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import bpy
import numpy as np

from .. import rendering
from ..preferences import user_folder
from ..property_groups.scene import MODEL_NAMED_LIKE_STYLE, scene_settings
from ..worker_client import AddonError, refuse_writing
from .runner import Step, WorkerOperator
from .shot import frame_range_shot, render_steps


class NST_OT_train_from_scene(WorkerOperator):
    """Train a Fast model for the scene's style on renders of this scene's frame range (in the engine worker)"""

    bl_idname = "nst.train_from_scene"
    bl_label = "Train from This Scene"

    def plan(self, context):
        scene = context.scene
        settings = scene_settings(scene)
        shot = frame_range_shot(scene, "for the renders the model learns from")
        styles, _ = rendering.scene_styles(settings, user_folder("jobs", "training-styles"))
        if len(styles) != 1:
            raise AddonError("a Fast model learns one style; keep a single style in the list")
        name = f"{Path(styles[0]).stem}_{bpy.path.clean_name(scene.name)}"
        self.model_name, self.training_folder = name, shot.folder / "training"
        frames = shot.files()
        steps = render_steps(scene, frames, overwrite=False)

        def train():
            copy_pictures(frames, self.training_folder)
            models = Path(self.engine.models_folder)
            models.mkdir(parents=True, exist_ok=True)
            return {"type": "train", "style": styles[0], "content_dirs": [str(self.training_folder)],
                    "output": str(models / f"{name}.safetensors"),
                    **self.engine.request_fields(weights=False, cache=False),
                    "settings": {"steps": settings.train_steps, "crop_px": settings.train_crop_px, "batch_size": 2,
                                 "weights": self.engine.weights}}

        def finish(result):
            settings.fast_model = name  # ready to use: the Fast method now picks this model

        steps.append(Step(f"train '{name}'", train, finish))
        return steps

    def finished(self, context, done, skipped):
        return f"trained the Fast model '{self.model_name}'; choose Method: Fast to use it"


def copy_pictures(frames, folder: Path) -> None:
    """The frames' pictures as seen (without the passes' EXRs) into `folder`, and no other picture left there."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {files.display.name for _, files in frames}
    for stale in folder.glob("*.png"):
        if stale.name not in wanted:
            refuse_writing(stale, "a stale tuning picture")
            stale.unlink()
    for _, files in frames:
        refuse_writing(folder / files.display.name, "a training picture")
        shutil.copyfile(files.display, folder / files.display.name)


class _TuneOperator(WorkerOperator):
    """Tune the any-style network in the worker on rendered frames of the range; the Fast method then uses it."""

    shot_mode = False  # True: to the shot, on keyframes of the range; False: to the painting, on the whole range

    def painting(self, settings) -> str:
        raise NotImplementedError

    def plan(self, context):
        scene = context.scene
        settings = scene_settings(scene)
        shot = frame_range_shot(scene, "for the renders the tuning learns from")
        style = self.painting(settings)
        stem = Path(style).stem
        self.model_name = f"{stem}_{bpy.path.clean_name(scene.name)}" if self.shot_mode else stem
        frame_numbers = list(shot.frames)
        if self.shot_mode:  # the engine's own spread (engine.fast.train.pick_keyframes), only those rendered
            picks = np.linspace(0, len(frame_numbers) - 1, min(settings.tune_keyframes, len(frame_numbers)))
            frame_numbers = [frame_numbers[i] for i in dict.fromkeys(picks.round().astype(int).tolist())]
        frames = shot.files(frame_numbers)
        folder = shot.folder / ("tuning_shot" if self.shot_mode else "tuning_painting")
        steps = render_steps(scene, frames, overwrite=False)

        def tune():
            copy_pictures(frames, folder)
            models = Path(self.engine.models_folder)
            models.mkdir(parents=True, exist_ok=True)
            tuning = {"minutes": settings.tune_minutes, "weights": self.engine.weights}
            if self.shot_mode:
                tuning |= {"keyframes": len(frames), "sizes_px": []}  # the frames' own size
            return {"type": "tune", "style": style, "content_dirs": [str(folder)],
                    "output": str(models / f"{self.model_name}.safetensors"),
                    **self.engine.request_fields(weights=False, cache=False), "settings": tuning}

        def finish(result):
            if self.shot_mode:
                settings.fast_model = self.model_name  # this shot's look: the Fast method now picks this model
            elif settings.fast_model not in (MODEL_NAMED_LIKE_STYLE, self.model_name):
                settings.fast_model = MODEL_NAMED_LIKE_STYLE  # the painting's tuned model, by its name

        steps.append(Step(f"tune '{self.model_name}'", tune, finish))
        return steps

    def finished(self, context, done, skipped):
        return f"tuned the Fast model '{self.model_name}'; Method: Fast uses it for this painting"


class NST_OT_tune_to_painting(_TuneOperator):
    """Tune the any-style network to the selected style's painting on renders of the frame range (in the engine
    worker, minutes); Fast mode, the Live Preview and the Style Sheet then use it for that painting"""

    bl_idname = "nst.tune_to_painting"
    bl_label = "Tune to Painting"

    def painting(self, settings) -> str:
        if not 0 <= settings.active_style_index < len(settings.styles):
            raise AddonError("select a style to tune to")
        item = settings.styles[settings.active_style_index]
        if item.image is not None or not item.filepath:
            raise AddonError("tuning needs the style as an image file, not a Blender image")
        return rendering.style_file(item.filepath, "the selected style")


class NST_OT_tune_to_shot(_TuneOperator):
    """Tune the any-style network to this shot: to the scene's style on keyframes of the frame range (in the engine
    worker, minutes); the Fast method then uses it for the shot, with flow-guided blending against flicker"""

    bl_idname = "nst.tune_to_shot"
    bl_label = "Tune to This Shot"
    shot_mode = True

    def painting(self, settings) -> str:
        styles, _ = rendering.scene_styles(settings, user_folder("jobs", "training-styles"))
        if len(styles) != 1:
            raise AddonError("a tuned model learns one style; keep a single style in the list")
        return styles[0]
