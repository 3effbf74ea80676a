"""Faults against the real worker process: killed mid-frame or mid-write, cancelled mid-iteration.

A kill leaves no partial file under an output's name, a rerun of the same request resumes (finished frames are
kept, stray temporary files are cleared) and gives the frames an uninterrupted run gives; cancel is answered
within a second even when one optimizer iteration takes longer. (Two jobs sent at once are queued, not
interleaved: tests/test_worker.py.)
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from support import REPO, STYLES, write_synthetic_sequence

from engine.imageio.images import read_rgb
from engine.runtime.faults import PAUSE_BEFORE_REPLACE_ENV

STARRY = str(STYLES / "starry_night.jpg")
FRAMES = 4
ITERATIONS = 12  # a frame takes about a second: time to kill it mid-frame


class Worker:
    """`python -m engine worker` on one thread, its stdout and stderr read line by line on two more."""

    def __init__(self, **env):
        self.process = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=REPO, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env={**os.environ, "OMP_NUM_THREADS": "1", **env})
        self.events: queue.Queue = queue.Queue()
        self.errors: queue.Queue = queue.Queue()
        for stream, lines in ((self.process.stdout, self.events), (self.process.stderr, self.errors)):
            threading.Thread(target=lambda s=stream, q=lines: [q.put(line) for line in s], daemon=True).start()

    def send(self, **request) -> None:
        self.process.stdin.write(json.dumps({"v": 1, **request}) + "\n")
        self.process.stdin.flush()

    def next_event(self, timeout_s: float = 120) -> dict:
        return json.loads(self.events.get(timeout=timeout_s))

    def wait_for(self, accept, timeout_s: float = 120) -> dict:
        """The first event that `accept` takes; fails on an error event."""
        deadline = time.monotonic() + timeout_s
        while True:
            event = self.next_event(deadline - time.monotonic())
            assert event["type"] != "error", event
            if accept(event):
                return event

    def wait_for_stderr(self, text: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.errors.get(timeout=deadline - time.monotonic()):
            pass

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no handler, no cleanup
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.send(type="shutdown")
            self.process.stdin.close()
            assert self.process.wait(timeout=60) == 0


@pytest.fixture
def worker_factory():
    workers = []

    def start(**env) -> Worker:
        workers.append(Worker(**env))
        return workers[-1]

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    return write_synthetic_sequence(tmp_path_factory.mktemp("render"), frames=FRAMES)


def sequence_request(job: str, render, folder) -> dict:
    folder.mkdir(exist_ok=True)
    frames = [{"content": str(png), "passes": str(exr), "output": str(folder / f"frame_{i}.png")}
              for i, (png, exr) in enumerate(render)]
    return {"type": "stylize_sequence", "job": job, "frames": frames, "styles": [STARRY], "cache_dir": None,
            "options": {"size_px": 128, "iterations": ITERATIONS, "scales": 1}, "later_iterations": ITERATIONS}


def finished(job: str):
    return lambda event: event["job"] == job and event["type"] in ("result", "cancelled")


def frame_names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_same_frames(folder, reference) -> None:
    for i in range(FRAMES):
        assert np.array_equal(read_rgb(folder / f"frame_{i}.png"), read_rgb(reference / f"frame_{i}.png")), i


def resume_and_reference(worker_factory, render, out, reference) -> dict:
    """Rerun the request into `out` and, in the same worker, an uninterrupted run into `reference`."""
    worker = worker_factory()
    worker.send(**sequence_request("resume", render, out))
    worker.send(**sequence_request("reference", render, reference))
    resumed = worker.wait_for(finished("resume"))
    assert worker.wait_for(finished("reference"))["type"] == "result"
    worker.close()
    return resumed


def test_killed_mid_frame_leaves_no_partial_file_and_a_rerun_resumes(tmp_path, worker_factory, render):
    out = tmp_path / "out"
    worker = worker_factory()
    worker.send(**sequence_request("shot", render, out))
    worker.wait_for(lambda e: e["type"] == "progress" and e["frame"] == 2 and e["iteration"] <= ITERATIONS // 2)
    worker.kill()  # optimizing frame 2; frames 0 and 1 are written
    assert frame_names(out) == ["frame_0.png", "frame_1.png"]

    resumed = resume_and_reference(worker_factory, render, out, tmp_path / "reference")
    assert resumed["type"] == "result"
    assert resumed["skipped"] == [str(out / "frame_0.png"), str(out / "frame_1.png")]
    assert resumed["written"] == [str(out / "frame_2.png"), str(out / "frame_3.png")]
    assert frame_names(out) == [f"frame_{i}.png" for i in range(FRAMES)]
    assert_same_frames(out, tmp_path / "reference")


def test_killed_mid_write_leaves_no_partial_file_and_a_rerun_clears_the_temporary_one(tmp_path, worker_factory,
                                                                                       render):
    out = tmp_path / "out"
    worker = worker_factory(**{PAUSE_BEFORE_REPLACE_ENV: "frame_1.png"})
    worker.send(**sequence_request("shot", render, out))
    worker.wait_for_stderr(f"{PAUSE_BEFORE_REPLACE_ENV}: ")  # frame 1's file is written, not yet in place
    worker.kill()
    temporary, finished_frame = frame_names(out)  # frame 1 only as its temporary file
    assert finished_frame == "frame_0.png"
    assert temporary.startswith(".frame_1.png.") and temporary.endswith(".part")

    resumed = resume_and_reference(worker_factory, render, out, tmp_path / "reference")
    assert resumed["type"] == "result" and resumed["skipped"] == [str(out / "frame_0.png")]
    assert frame_names(out) == [f"frame_{i}.png" for i in range(FRAMES)]  # the stray temporary file is gone
    assert_same_frames(out, tmp_path / "reference")


def test_cancel_is_answered_within_a_second_even_when_an_iteration_takes_longer(tmp_path, worker_factory,
                                                                                content_png):
    worker = worker_factory()
    worker.send(type="stylize", job="big", content=str(content_png), styles=[STARRY], cache_dir=None,
                output=str(tmp_path / "big.png"), options={"size_px": 384, "iterations": 50, "scales": 1})
    iterations = [worker.wait_for(lambda e: e["type"] == "progress") for _ in range(2)]
    iteration_s = iterations[1]["elapsed_s"] - iterations[0]["elapsed_s"]
    sent = time.monotonic()
    worker.send(type="cancel", job="big")
    answer = worker.wait_for(finished("big"))
    waited_s = time.monotonic() - sent
    assert answer["type"] == "cancelled"
    assert waited_s < 1.0, f"cancel took {waited_s:.2f} s (one iteration: {iteration_s:.2f} s)"
    assert not (tmp_path / "big.png").exists()
    worker.close()
