"""The Open Job Description bundle end to end: a real tiny .blend, exported as a job bundle, validated by `openjd
check` and `openjd summary`, and run on this machine by `openjd run` (steps in dependency order): 4 frames in chunks
of 2, strict chunking, equal to the same shot stylized in one run on one machine; then its Encode step's video.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from support import REPO, STYLES

OPENJD = str(Path(sys.executable).parent / "openjd")
SETTINGS = ["--size", "48", "--iterations", "3", "--device", "cpu"]

SCENE = textwrap.dedent("""
    import sys, bpy
    from bench.scenes import tiny_shot
    tiny_shot((48, 32), samples=1, frames=4, fps=8, sphere=False, cube_x=(-1.0, 0.0))
    bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
""")


def python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                          **kwargs)


@pytest.fixture(scope="module")
def blend_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("shot") / "shot.blend"
    done = python("-c", SCENE, str(path))
    assert done.returncode == 0 and path.is_file(), done.stdout + done.stderr
    return path


def export(blend_file: Path, tmp_path: Path, chunking: str, *extra: str) -> Path:
    done = python("-m", "farm.openjd.bundle", "export", str(blend_file), "--frames", "1-4", "--chunk-size", "2",
                  "--chunking", chunking, "--style", str(STYLES / "starry_night.jpg"), "--output",
                  str(tmp_path / "out"), "--bundle-dir", str(tmp_path / "bundles"), "--python", sys.executable,
                  "--fps", "8", *SETTINGS, *extra)
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    checked = subprocess.run([OPENJD, "check", str(folder / "template.yaml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    values = yaml.safe_load((folder / "parameter_values.yaml").read_text())["parameterValues"]
    params = {item["name"]: item["value"] for item in values if not item["name"].startswith("deadline:")}
    summary = subprocess.run([OPENJD, "summary", str(folder / "template.yaml"), "--job-param", json.dumps(params)],
                             capture_output=True, text=True)
    assert summary.returncode == 0, summary.stdout + summary.stderr  # the values fit the template's parameters
    return folder


@pytest.mark.parametrize("chunking, steps", [
    ("overlap", ["Render", "Stylize", "Join", "Encode"]),
    ("anchors", ["Render", "Train", "Stylize", "Encode"]),
])
def test_parallel_strategies_export_valid_bundles(blend_file, tmp_path, chunking, steps):
    template = yaml.safe_load((export(blend_file, tmp_path, chunking) / "template.yaml").read_text())
    assert [step["name"] for step in template["steps"]] == steps
    stylize = template["steps"][2 if chunking == "anchors" else 1]
    assert stylize["parameterSpace"]["taskParameterDefinitions"][0]["range"] == ["1-2", "3-4"]
    assert stylize["dependencies"] == [{"dependsOn": steps[1] if chunking == "anchors" else "Render"}]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        return np.asarray(image)


@pytest.fixture(scope="module")
def strict_run(blend_file, tmp_path_factory):
    """A strict bundle run by `openjd run` up to its last stylize step (with every step it depends on)."""
    tmp_path = tmp_path_factory.mktemp("strict")
    bundle = export(blend_file, tmp_path, "strict")
    done = python("-m", "farm.openjd.bundle", "run", str(bundle), "--step", "Stylize 3-4", "--run-dependencies")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return bundle, tmp_path / "out", done.stdout


def test_strict_bundle_runs_with_openjd_and_equals_a_one_machine_run(blend_file, strict_run, tmp_path):
    bundle, out, log = strict_run
    order = [log.index(f"Running step '{step}'") for step in ("Render", "Stylize 1-2", "Stylize 3-4")]
    assert order == sorted(order), "openjd ran the steps in dependency order"
    names = [f"frame_{frame:04d}.png" for frame in range(1, 5)]
    assert sorted(p.name for p in (out / "stylized").glob("*.png")) == names

    alone = tmp_path / "alone"
    one_run = python("-m", "nst_addon.batch", str(blend_file), "--frames", "1-4", "--output", str(alone),
                     "--style", str(STYLES / "starry_night.jpg"), "--engine-python", sys.executable, *SETTINGS)
    assert one_run.returncode == 0, one_run.stdout + one_run.stderr
    for name in names:
        farmed, single = pixels(out / "stylized" / name), pixels(alone / "stylized" / name)
        assert farmed.shape == single.shape == (32, 48, 3)
        np.testing.assert_array_equal(farmed, single, err_msg=f"{name}: the farm's chunked result differs")


def test_strict_bundle_encode_step_writes_the_video(strict_run):
    bundle, out, _ = strict_run
    done = python("-m", "farm.openjd.bundle", "run", str(bundle), "--step", "Encode", "--no-run-dependencies")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    video = out / "shot-1-4.mp4"
    assert video.is_file() and video.stat().st_size > 0
