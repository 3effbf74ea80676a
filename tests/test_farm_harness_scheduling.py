"""The local farm harness's scheduling with real `exec` tasks (small Python processes): dependency order on 2
workers, task types kept to the workers that take them, a failed task retried, a hard failure cancelling what
depends on it, a killed task retried, and jobs it refuses before running anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.farm.harness import ALL_TASK_TYPES, Farm, HarnessError, Job, Task, Worker, command_line


def py(code: str) -> dict:
    return {"name": "exec", "parameters": {"exe": sys.executable, "args": ["-c", code]}}


def stamp(folder: Path, name: str, seconds: float = 0.0) -> dict:
    """A task command that records when it started and ended (monotonic clock) in folder/name."""
    return py(f"import time, pathlib; s = time.monotonic(); time.sleep({seconds}); "
              f"pathlib.Path({str(folder / name)!r}).write_text(f'{{s}} {{time.monotonic()}}')")


def times(folder: Path, name: str) -> tuple[float, float]:
    start, end = (folder / name).read_text().split()
    return float(start), float(end)


def farm(tmp_path, **kwargs) -> Farm:
    return Farm(log_dir=tmp_path / "logs", **kwargs)


def test_dependencies_order_tasks_and_independent_ones_run_side_by_side(tmp_path):
    job = Job("j", {}, [
        Task("a", "misc", [stamp(tmp_path, "a", 0.6)], []),
        Task("b", "misc", [stamp(tmp_path, "b", 0.6)], []),
        Task("c", "misc", [stamp(tmp_path, "c")], ["a", "b"]),
    ])
    farm(tmp_path).run(job, on_line=lambda line: None)
    assert job.status == "completed", job.report()
    (a0, a1), (b0, b1), (c0, _) = times(tmp_path, "a"), times(tmp_path, "b"), times(tmp_path, "c")
    assert a0 < b1 and b0 < a1, "a and b ran at the same time on the two workers"
    assert c0 >= max(a1, b1)
    assert {job.task("a").worker, job.task("b").worker} == {"w1", "w2"}


def test_a_task_type_goes_only_to_workers_that_take_it(tmp_path):
    job = Job("j", {}, [Task(f"gpu{i}", "nst-gpu", [stamp(tmp_path, f"g{i}", 0.2)], []) for i in range(3)])
    farm(tmp_path, workers=[Worker("cpu", ALL_TASK_TYPES - {"nst-gpu"}), Worker("gpu")]).run(
        job, on_line=lambda line: None)
    assert job.status == "completed"
    assert {t.worker for t in job.tasks} == {"gpu"}


def test_a_failed_task_is_retried_then_fails_the_job_and_cancels_its_dependents(tmp_path):
    flaky = py(f"import pathlib, sys; p = pathlib.Path({str(tmp_path / 'tried')!r}); "
               "sys.exit(0 if p.exists() else (p.touch(), 3)[1])")
    job = Job("j", {}, [
        Task("flaky", "misc", [flaky], []),
        Task("broken", "misc", [py("import sys; sys.exit(5)")], ["flaky"]),
        Task("after", "misc", [py("pass")], ["broken"]),
    ])
    farm(tmp_path, retries=1).run(job, on_line=lambda line: None)
    assert (job.task("flaky").status, job.task("flaky").attempts) == ("completed", 2)
    assert (job.task("broken").status, job.task("broken").attempts) == ("failed", 2)
    assert "exited with status 5" in job.task("broken").log.read_text()
    assert job.task("after").status == "cancelled"
    assert job.status == "failed"


def test_a_killed_task_is_retried(tmp_path):
    marker = tmp_path / "started"
    job = Job("j", {}, [Task("long", "misc", [py(f"import pathlib, time; p = pathlib.Path({str(marker)!r}); "
                                                  "first = not p.exists(); p.touch(); time.sleep(30 if first else 0)")],
                             [])])
    farm(tmp_path).run(job, kill_when={"long": lambda seconds: marker.exists()}, on_line=lambda line: None)
    task = job.task("long")
    assert (task.status, task.attempts, task.killed) == ("completed", 2, True)
    assert task.seconds < 10
    assert "exited with status -9" in (tmp_path / "logs" / "long.1.log").read_text()


@pytest.mark.parametrize("tasks, workers, message", [
    ([Task("a", "misc", [py("pass")], ["nope"])], None, "depends on 'nope', which is not in the job"),
    ([Task("a", "misc", [py("pass")], ["b"]), Task("b", "misc", [py("pass")], ["a"])], None, "dependency cycle"),
    ([Task("a", "nst-gpu", [py("pass")], [])], [Worker("cpu", frozenset({"blender"}))], "no worker takes task type"),
    ([Task("a", "misc", [{"name": "move-directory", "parameters": {}}], [])], None, "not one this harness runs"),
])
def test_jobs_that_cannot_run_are_refused_before_anything_runs(tmp_path, tasks, workers, message):
    tasks.append(Task("witness", "misc", [stamp(tmp_path, "witness")], []))
    with pytest.raises(HarnessError, match=message):
        farm(tmp_path, **({"workers": workers} if workers else {})).run(Job("j", {}, tasks), on_line=lambda x: None)
    assert not (tmp_path / "witness").exists()


def test_command_lines_match_flamenco_worker():
    video = {"name": "frames-to-video", "parameters": {
        "exe": "/usr/bin/ffmpeg", "fps": 23.976, "inputGlob": "{out}/stylized/frame_*.png",
        "outputFile": "{out}/v.mp4", "args": ["-c:v", "h264", "-y"]}}
    assert command_line(video, {"out": "/o"}) == [
        "/usr/bin/ffmpeg", "-r", "23.976", "-pattern_type", "glob", "-i", "/o/stylized/frame_*.png",
        "-c:v", "h264", "-y", "-r", "23.976", "/o/v.mp4"]
    render = {"name": "blender-render", "parameters": {
        "exe": "{blender}", "exeArgs": "{blenderArgs}", "argsBefore": [], "blendfile": "/s/shot.blend",
        "args": ["--python", "{nst}/scripts/blender_batch.py", "--", "--output", "/o", "--stage", "render"]}}
    repo = str(Path(__file__).resolve().parents[1])
    assert command_line(render, {"nst": repo}, python="py") == [
        "py", "-m", "nst_addon.batch", "/s/shot.blend", "--output", "/o", "--stage", "render"]
    with pytest.raises(HarnessError, match="not this project's"):
        command_line(render, {"nst": "/elsewhere"})
    plain_render = {"name": "blender-render", "parameters": {**render["parameters"], "args": ["--render-frame", "1"]}}
    with pytest.raises(HarnessError, match="runs only the batch entry"):
        command_line(plain_render, {})
