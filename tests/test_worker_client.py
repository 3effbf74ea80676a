"""The add-on's worker client against the real engine worker: reuse between jobs, cancel (what Esc sends), a hang
turned into a message, and a bad request reported as the engine's own clear error. Plain Python: the client imports
without bpy (the test makes sure), and starts a real `python -m engine worker`.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from nst_addon.worker_client import WorkerClient
from support import REPO, STYLES


@pytest.fixture
def client():
    worker = WorkerClient(sys.executable)
    worker.start()
    yield worker
    worker.shutdown()


def stylize(tmp_path, name: str, iterations: int) -> dict:
    return {"type": "stylize", "content": str(STYLES / "shipwreck.jpg"), "styles": [str(STYLES / "starry_night.jpg")],
            "output": str(tmp_path / name), "options": {"size_px": 48, "iterations": iterations}, "device": "cpu"}


def wait(client: WorkerClient, job, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not job.done and time.monotonic() < deadline:
        client.pump(timeout_s=0.2)
    assert job.done, "the job did not end in time"


def test_the_client_imports_without_bpy():
    code = ("import sys; sys.modules['bpy'] = None; import nst_addon.worker_client as client; "
            "assert 'bpy' not in [name for name, module in sys.modules.items() if module is not None]")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_one_worker_serves_several_jobs(client, tmp_path):
    process = client.process
    for name in ("a.png", "b.png"):
        job = client.submit(stylize(tmp_path, name, 3))
        wait(client, job)
        assert job.result is not None, job.error
        assert (tmp_path / name).is_file()
    assert client.process is process


def test_cancel_stops_the_job_and_writes_nothing(client, tmp_path):
    job = client.submit(stylize(tmp_path, "cancelled.png", 5000))
    while job.fraction == 0.0 and not job.done:
        client.pump(timeout_s=0.2)
    client.cancel(job)
    wait(client, job)
    assert job.cancelled and job.result is None
    assert not (tmp_path / "cancelled.png").exists()
    assert client.alive, "cancel must not take the worker down"


def test_a_silent_engine_is_stopped_with_a_message(client, tmp_path):
    job = client.submit(stylize(tmp_path, "hung.png", 5000))
    job.last_event_s -= 3600  # as if the engine had said nothing for an hour
    client.check_hang(job, hang_timeout_s=60)
    assert job.error and "did not respond for 60 s" in job.error
    assert not client.alive and not (tmp_path / "hung.png").exists()


def test_bad_input_comes_back_as_the_engines_message(client, tmp_path):
    request = stylize(tmp_path, "never.png", 3)
    request["styles"] = [str(tmp_path / "missing.jpg")]
    job = client.submit(request)
    wait(client, job)
    assert job.error and "style image not found" in job.error and "missing.jpg" in job.error
    assert not (tmp_path / "never.png").exists()
