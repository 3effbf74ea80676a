"""The headless batch entry, end to end: `python -m nst_addon.batch scene.blend ...` renders and stylizes 3 frames
with per-object styles, resumes without overwriting, and fails cleanly with a message and a non-zero status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from blender_kit import REPO, STYLES, build_tiny_scene, styleless_shot

import bpy

pytestmark = pytest.mark.blender


@pytest.fixture
def blend_file(addon, tmp_path) -> Path:
    """A 3-frame tiny scene saved with no styles in it: the command line supplies them."""
    return styleless_shot(tmp_path / "tiny.blend", frames=3)


def batch(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), **extra_env)
    return subprocess.run([sys.executable, "-m", "nst_addon.batch", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_batch_renders_and_stylizes_three_flicker_free_frames_then_resumes(blend_file, tmp_path):
    out = tmp_path / "out"
    args = [str(blend_file), "--style", str(STYLES / "starry_night.jpg"), "--frames", "1-3", "--output", str(out),
            "--size", "64", "--iterations", "5", "--keep-original", "Sphere",
            "--object-style", f"Cube={STYLES / 'shipwreck.jpg'}"]
    done = batch(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    names = [f"frame_{frame:04d}" for frame in (1, 2, 3)]
    assert sorted(p.name for p in (out / "stylized").iterdir()) == [f"{n}.png" for n in names]
    assert sorted(p.name for p in (out / "render").iterdir()) == sorted(
        [f"{n}.exr" for n in names] + [f"{n}.png" for n in names])
    assert done.stdout.count(": stylized -> ") == 3, done.stdout
    assert done.stdout.count("(motion: render vectors)") == 2, "frames 2 and 3 follow the render's motion vectors"
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.*")}

    (out / "stylized" / "frame_0002.png").unlink()  # as if the run had been interrupted there
    again = batch(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already stylized, skipped") == 2, again.stdout
    assert (out / "stylized" / "frame_0002.png").is_file()
    for path, stamp in stamps.items():
        if path.name != "frame_0002.png" or path.parent.name != "stylized":
            assert path.stat().st_mtime_ns == stamp, f"{path} was overwritten"


@pytest.mark.parametrize("args, message", [
    (["--style", "missing.jpg"], "--style missing.jpg: the image file does not exist"),
    (["--keep-original", "Teapot"], "no object named 'Teapot'"),
    (["--frames", "3-1"], "the last frame comes before the first"),
])
def test_batch_bad_arguments_fail_with_a_message_and_no_output(blend_file, tmp_path, args, message):
    out = tmp_path / "out"
    done = batch(str(blend_file), "--style", str(STYLES / "starry_night.jpg"), "--output", str(out), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert not out.exists()


def test_batch_without_camera_exits_non_zero(addon, tmp_path):
    build_tiny_scene().camera = None
    path = tmp_path / "nocam.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    done = batch(str(path), "--output", str(tmp_path / "out"))
    assert done.returncode == 1
    assert "no active camera" in done.stderr
    assert not (tmp_path / "out").exists()


def test_blender_batch_script_runs_on_the_file_blender_opened(blend_file, tmp_path):
    """`blender -b scene.blend -P scripts/blender_batch.py -- ARGS`, with bpy standing in for the executable; here
    with the Fast method (the bundled starry_night model) on a flicker-free pair of frames."""
    out = tmp_path / "out"
    as_blender_does = ("import runpy, sys, bpy; bpy.ops.wm.open_mainfile(filepath=sys.argv[1]); "
                       "sys.argv = ['blender', '-b', sys.argv[1], '-P', 'scripts/blender_batch.py', *sys.argv[2:]]; "
                       "runpy.run_path('scripts/blender_batch.py', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", as_blender_does, str(blend_file), "--", "--style",
                           str(STYLES / "starry_night.jpg"), "--frames", "2-3", "--output", str(out), "--size", "64",
                           "--method", "fast"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (out / "stylized").iterdir()) == ["frame_0002.png", "frame_0003.png"]


def test_batch_says_when_the_engine_ran_out_of_memory_and_fell_back(blend_file, tmp_path):
    """Out of memory on the device (simulated by the engine's test hook for passes over 24 px), the frame is still
    stylized (on the CPU) and the log says so in a warning line."""
    out = tmp_path / "out"
    done = batch(str(blend_file), "--style", str(STYLES / "starry_night.jpg"), "--frames", "1", "--output", str(out),
                 "--size", "48", "--iterations", "3", NST_SIMULATE_OOM_ABOVE_PX="24")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "stylized" / "frame_0001.png").is_file()
    warnings = [line for line in done.stdout.splitlines() if line.startswith("[nst] warning:")]
    assert any("out of memory" in line for line in warnings), done.stdout
    assert any("falling back to the CPU" in line for line in warnings), done.stdout
