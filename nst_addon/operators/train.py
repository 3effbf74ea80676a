"""Train from This Scene: render the frame range and train a Fast model for the scene's one style on the renders."""

from __future__ import annotations

import shutil
from pathlib import Path

import bpy

from .. import rendering
from ..preferences import user_folder
from ..property_groups.scene import scene_settings
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
            self.training_folder.mkdir(parents=True, exist_ok=True)
            for _, files in frames:  # the pictures as seen, without the passes' EXRs
                refuse_writing(self.training_folder / files.display.name, "a training picture")
                shutil.copyfile(files.display, self.training_folder / files.display.name)
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
