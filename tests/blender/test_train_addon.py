"""Train from This Scene in the real Blender: renders the frame range, trains a Fast model in the worker, and the
model picker then uses it."""

from __future__ import annotations

import bpy
import numpy as np

from blender_kit import SIZE, pixels

from engine.fast.model_file import read_model_info


def test_train_from_this_scene_makes_a_model_that_the_fast_method_uses(tiny_scene, prefs, tmp_path):
    prefs.models_folder = str(tmp_path / "models")
    try:
        tiny_scene.frame_start, tiny_scene.frame_end = 1, 2
        settings = tiny_scene.nst
        settings.output_folder = str(tmp_path / "shot")
        settings.method = "FAST"
        settings.train_steps, settings.train_crop_px = 2, 32
        assert bpy.ops.nst.train_from_scene() == {"FINISHED"}
        model = tmp_path / "models" / "starry_night_Scene.safetensors"
        info = read_model_info(model)
        assert info.training["steps"] == 2 and info.style["name"].startswith("starry_night")
        assert sorted(p.name for p in (tmp_path / "shot" / "training").iterdir()) == ["frame_0001.png",
                                                                                       "frame_0002.png"]
        assert settings.fast_model == "starry_night_Scene"  # the picker now points at the new model
        assert bpy.ops.nst.stylize_render() == {"FINISHED"}
        result = bpy.data.images["NST Stylized Render"]
        assert tuple(result.size) == SIZE and np.isfinite(pixels(result)).all()
    finally:
        prefs.models_folder = ""
