"""Tune to Painting and Tune to This Shot in the real Blender: the worker tunes the any-style network on the
range's renders, and the Fast method then paints with the tuned model."""

from __future__ import annotations

import bpy
import numpy as np
from support import STYLES

from engine.anystyle import get_any_stylizer
from engine.fast.stylize_fast import stylize_fast
from engine.fast.model_file import read_model_info
from engine.imageio.images import read_rgb


def test_tuning_runs_in_the_worker_and_the_fast_method_paints_with_the_tuned_model(tiny_scene, prefs, tmp_path):
    prefs.models_folder = str(tmp_path / "models")
    try:
        tiny_scene.frame_start, tiny_scene.frame_end = 1, 3
        for name in ("Cube", "Sphere"):  # the scene's one painting everywhere
            tiny_scene.objects[name].nst.mode = "INHERIT"
        settings = tiny_scene.nst
        settings.output_folder = str(tmp_path / "shot")
        settings.method = "FAST"
        settings.tune_minutes, settings.tune_keyframes = 0.02, 2
        assert bpy.ops.nst.tune_to_painting() == {"FINISHED"}
        painting_model = tmp_path / "models" / "starry_night.safetensors"
        info = read_model_info(painting_model)
        assert (info.kind, info.training["content_images"]) == ("tuned", 3)
        assert info.training["command"] == "Blender: Tune to Painting"
        assert not list((tmp_path / "models").glob("*.tmp*"))
        assert bpy.ops.nst.stylize_animation() == {"FINISHED"}
        render = read_rgb(tmp_path / "shot" / "render" / "frame_0001.png")
        result = read_rgb(tmp_path / "shot" / "stylized" / "frame_0001.png")
        tuned = stylize_fast(render, str(painting_model), device="cpu").image
        untuned = get_any_stylizer("cpu", cache_dir=None).stylize(render, [read_rgb(STYLES / "starry_night.jpg")]).image
        assert np.abs(result - tuned).mean() < 0.5 * np.abs(result - untuned).mean()  # named like the painting

        assert bpy.ops.nst.tune_to_shot() == {"FINISHED"}
        shot_info = read_model_info(tmp_path / "models" / "starry_night_Scene.safetensors")
        assert shot_info.training["keyframe_files"] == ["frame_0001.png", "frame_0003.png"]
        assert shot_info.training["command"] == "Blender: Tune to This Shot"
        assert settings.fast_model == "starry_night_Scene"  # the picker now points at the shot's model
    finally:
        prefs.models_folder = ""
