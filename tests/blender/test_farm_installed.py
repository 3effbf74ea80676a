"""Farm jobs exported from the extension as a user installs it (the built zip in a fresh user folder): every file,
folder and module the job's commands name exists in the installed copy, Blender command lines pass a failed
script's status on (--python-exit-code 1), and the Python-mode OpenJD bundle runs under `openjd run` from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from blender_kit import ADDON, REPO, farm_shot

import bpy


@pytest.fixture
def shot(addon, tmp_path):
    """A 2-frame tiny scene saved as shot.blend, one chunk, 3 iterations a frame, output in tmp/out."""
    return farm_shot(tmp_path, frames=2, iterations=3, worker_python=sys.executable)


def installed_code() -> Path:
    """The installed extension's folder (not this repository)."""
    folder = Path(sys.modules[ADDON].__file__).resolve().parent
    assert (folder / "blender_manifest.toml").is_file() and REPO not in (folder, *folder.parents)
    return folder


def export_bundle(scene, worker_command: str) -> tuple[dict, dict, Path]:
    scene.nst_farm.worker_command = worker_command
    bundles = Path(scene.nst_farm.bundle_folder)
    before = set(bundles.iterdir()) if bundles.is_dir() else set()
    assert bpy.ops.nst.farm_submit() == {"FINISHED"}
    (bundle,) = set(bundles.iterdir()) - before
    template = yaml.safe_load((bundle / "template.yaml").read_text())
    values = yaml.safe_load((bundle / "parameter_values.yaml").read_text())["parameterValues"]
    return template, {item["name"]: item["value"] for item in values}, bundle


def substituted(text: str, params: dict) -> str:
    for name, value in params.items():
        text = text.replace(f"{{{{Param.{name}}}}}", str(value))
    return text


def named_paths(template: dict, params: dict) -> list[Path]:
    """Every path the job's commands read: absolute paths (outside the output folder) and `-m` modules, looked up on
    the PYTHONPATH the job sets."""
    (environment,) = template["jobEnvironments"]
    python_path = Path(substituted(environment["variables"]["PYTHONPATH"], params))
    paths = [python_path]
    for step in template["steps"]:
        run = step["script"]["actions"]["onRun"]
        words = [substituted(word, params) for word in [run["command"], *run["args"]]]
        for before, word in zip(["", *words], words):
            if before == "-m":
                module = python_path.joinpath(*word.split("."))
                paths.append(module / "__init__.py" if module.is_dir() else module.with_suffix(".py"))
            elif word.startswith("/") and not word.startswith(str(params["OutputDir"])):
                paths.append(Path(word))
    return paths


def test_blender_mode_bundle_names_only_files_the_installed_extension_has(shot):
    template, params, _ = export_bundle(shot, "BLENDER")
    assert Path(params["CodeFolder"]) == installed_code()
    paths = named_paths(template, params)
    assert installed_code() / "scripts" / "blender_batch.py" in paths
    assert [str(p) for p in paths if not p.exists()] == []
    for step in template["steps"]:
        run = step["script"]["actions"]["onRun"]
        if run["command"] == "{{Param.Blender}}":
            args = run["args"]
            assert args[args.index("-P") - 2:args.index("-P")] == ["--python-exit-code", "1"], args


def test_flamenco_job_names_the_installed_batch_script(shot, tmp_path):
    exported = tmp_path / "job.json"
    assert bpy.ops.nst.farm_export_flamenco(filepath=str(exported)) == {"FINISHED"}
    settings = json.loads(exported.read_text())["settings"]
    assert Path(settings["batch_script"]) == installed_code() / "scripts" / "blender_batch.py"
    assert Path(settings["batch_script"]).is_file() and Path(settings["blendfile"]).is_file()


def test_python_mode_bundle_from_the_installed_extension_runs_under_openjd(shot, tmp_path):
    template, params, bundle = export_bundle(shot, "PYTHON")
    assert [str(p) for p in named_paths(template, params) if not p.exists()] == []
    code = installed_code()
    env = dict(os.environ, PYTHONPATH=str(code), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "farm.openjd.bundle", "run", str(bundle)], cwd=code, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert str(code) in done.stdout  # the steps ran the installed copy
    out = Path(params["OutputDir"])
    assert sorted(p.name for p in (out / "stylized").glob("*.png")) == ["frame_0001.png", "frame_0002.png"]
    video = out / "shot-1-2.mp4"
    assert video.is_file() and video.stat().st_size > 0
