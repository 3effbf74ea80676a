"""The Flamenco job type run for real on the local farm harness (bench/farm/harness.py): a 6-frame shot in the real
Blender, settings evaluated from the saved scene, the job compiled under Node, its tasks executed in dependency
order on 2 workers (render and stylize through the batch entry, the video through FFmpeg).

Checks, per chunking strategy: every stylized frame is a valid PNG of the render's size, the video has every frame;
strict chunks (with one stylize task killed mid-chunk and retried) equal a one-machine run bit for bit, and the
GPU task type runs only on the worker that takes it. The shot is rendered once; the other jobs start from a copy of
those renders, as a re-submitted job on shared storage would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from PIL import Image

from bench.farm.harness import ALL_TASK_TYPES, Farm, Worker, compile_job, submission_settings
from bench.scenes import tiny_shot

REPO = Path(__file__).resolve().parents[2]
STYLE = REPO / "styles" / "starry_night.jpg"
FRAMES, SIZE = 6, (64, 48)
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def build_shot(path: Path) -> Path:
    """A 6-frame Cycles shot (64 x 48, 1 sample): a checkered floor, a cube and a ball, the camera panning; the
    scene's Neural Style settings (one style, Final size 64 px and 4 iterations, a short network training)."""
    if not hasattr(bpy.types.Scene, "nst"):
        from nst_addon import register

        register()
    scene = tiny_shot(SIZE, samples=1, frames=FRAMES, fps=24, camera_x=(-0.8, 0.8), checker_floor=True)
    nst = scene.nst
    nst.styles.add().filepath = str(STYLE)
    nst.final_size_px, nst.final_iterations = max(SIZE), 4
    nst.train_steps, nst.train_crop_px = 10, 32
    nst.output_folder = str(path.parent / "farm")
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Path:
    return build_shot(tmp_path_factory.mktemp("shot") / "shot.blend")


def submit(shot: Path, name: str, **choices):
    """Settings as Flamenco's add-on submits them (evaluated from the scene), compiled into the job's tasks."""
    settings = submission_settings(shot, name, {"chunk_size": 3, **choices})
    assert settings["frames"] == f"1-{FRAMES}" and settings["fps"] == 24.0
    assert (settings["size"], settings["iterations"], settings["method"]) == (64, 4, "quality")
    assert settings["output_dir"] == str(shot.parent / "farm" / name)
    return compile_job(settings, name)


def run(job, workers, **kwargs):
    farm = Farm(workers=workers, env=ONE_THREAD, log_dir=Path(job.settings["output_dir"]) / "logs")
    farm.run(job, on_line=lambda line: None, **kwargs)
    assert job.status == "completed", job.report() + "\n" + _failed_logs(job)
    return Path(job.settings["output_dir"])


def _failed_logs(job) -> str:
    return "\n".join(f"--- {t.log}\n{t.log.read_text()[-3000:]}"
                     for t in job.tasks if t.log and t.status != "completed")


def stylized_frames(out: Path) -> list[np.ndarray]:
    frames = []
    for number in range(1, FRAMES + 1):
        path = out / "stylized" / f"frame_{number:04d}.png"
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == SIZE, path
            frames.append(np.asarray(image.convert("RGB")))
    return frames


def video_frames(out: Path, shot: Path) -> int:
    import cv2

    video = cv2.VideoCapture(str(out / f"{shot.stem}-1-{FRAMES}.mp4"))
    assert video.isOpened()
    count = 0
    while video.read()[0]:
        count += 1
    return count


def copy_renders(source: Path, out: Path) -> None:
    shutil.copytree(source / "render", out / "render")


@pytest.fixture(scope="module")
def strict_job(shot):
    """The strict job, run once: renders through the farm, stylize-4-6 killed after its first frame and retried,
    and the GPU task type kept to the one worker that takes it."""
    job = submit(shot, "strict", chunking="strict")
    assert [t.name for t in job.tasks] == ["render-1-3", "render-4-6", "stylize-1-3", "stylize-4-6", "encode-video"]
    fourth = Path(job.settings["output_dir"]) / "stylized" / "frame_0004.png"
    run(job, [Worker("gpu"), Worker("cpu", ALL_TASK_TYPES - {"nst-gpu"})],
        kill_when={"stylize-4-6": lambda seconds: fourth.is_file()})
    return job


def test_strict_chain_with_a_killed_task_equals_one_machine(shot, strict_job, tmp_path):
    retried = strict_job.task("stylize-4-6")
    assert retried.killed and retried.attempts == 2, "killed after its first frame, then run again"
    assert {t.worker for t in strict_job.tasks if t.type == "nst-gpu"} == {"gpu"}
    out = Path(strict_job.settings["output_dir"])
    farm_frames = stylized_frames(out)
    assert video_frames(out, shot) == FRAMES

    one = tmp_path / "one_machine"
    copy_renders(out, one)  # the same renders: the comparison is about stylizing in chunks
    done = subprocess.run([sys.executable, "-m", "nst_addon.batch", str(shot), "--frames", f"1-{FRAMES}",
                           "--output", str(one)], cwd=REPO, env=dict(os.environ, **ONE_THREAD, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    for number, (farm_frame, one_frame) in enumerate(zip(farm_frames, stylized_frames(one)), start=1):
        assert np.array_equal(farm_frame, one_frame), f"frame {number} differs from the one-machine run"


@pytest.mark.parametrize("chunking", ["overlap", "anchors"])
def test_parallel_strategies_write_every_frame_and_the_video(shot, strict_job, chunking):
    job = submit(shot, chunking, chunking=chunking, warmup=2, keyframes=2)
    out = Path(job.settings["output_dir"])
    copy_renders(Path(strict_job.settings["output_dir"]), out)
    run(job, [Worker("w1"), Worker("w2")])
    frames = stylized_frames(out)
    assert video_frames(out, shot) == FRAMES
    assert all(frame.std() > 5 for frame in frames), "stylized frames are pictures, not blanks"
