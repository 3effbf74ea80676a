"""The engine worker process over its JSON-lines protocol: queued jobs, sequences, cancel and versioning."""

from __future__ import annotations

import json
import subprocess
import sys

from support import REPO, STYLES, write_synthetic_sequence

STARRY = str(STYLES / "starry_night.jpg")
TINY = {"size_px": 48, "iterations": 4, "scales": 1}


def talk(requests: list[dict], timeout_s: float = 300) -> list[dict]:
    """Send every request at once, read events until every job has ended, then shut the worker down."""
    worker = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    waiting = {r["job"] for r in requests if r["type"] != "cancel"}
    for request in requests:
        worker.stdin.write(json.dumps({"v": 1, **request}) + "\n")
    worker.stdin.flush()
    events = []
    try:
        while waiting:
            event = json.loads(worker.stdout.readline())
            events.append(event)
            if event["type"] in ("ready", "result", "error", "cancelled"):
                waiting.discard(event["job"])
        worker.stdin.write(json.dumps({"v": 1, "type": "shutdown"}) + "\n")
        worker.stdin.close()
        assert worker.wait(timeout=timeout_s) == 0
    finally:
        worker.kill()
    return events


def test_jobs_sent_together_are_queued_not_interleaved(tmp_path):
    pairs = write_synthetic_sequence(tmp_path / "render", frames=3)
    frames = [{"content": str(png), "passes": str(exr), "output": str(tmp_path / f"out_{i}.png")}
              for i, (png, exr) in enumerate(pairs)]
    events = talk([
        {"type": "stylize_sequence", "job": "shot", "frames": frames, "styles": [STARRY], "options": TINY,
         "cache_dir": None, "regions": {"1": {"keep_original": True}}},
        {"type": "stylize", "job": "still", "content": str(pairs[0][0]), "styles": [STARRY],
         "output": str(tmp_path / "still.png"), "options": TINY, "cache_dir": None},
    ])
    jobs = [e["job"] for e in events]
    assert jobs == sorted(jobs, key=lambda job: job != "shot")  # every event of the first job comes first
    results = {e["job"]: e for e in events if e["type"] == "result"}
    assert results["shot"]["written"] == [f["output"] for f in frames]
    assert results["shot"]["flow"] == ["none", "render vectors", "render vectors"]
    assert (tmp_path / "still.png").is_file()
    fractions = [e["fraction"] for e in events if e["type"] == "progress" and e["job"] == "shot"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_cancelled_job_writes_nothing_and_the_next_one_runs(tmp_path):
    pairs = write_synthetic_sequence(tmp_path / "render", frames=1)
    events = talk([
        {"type": "cancel", "job": "first"},
        {"type": "stylize", "job": "first", "content": str(pairs[0][0]), "styles": [STARRY],
         "output": str(tmp_path / "first.png"), "options": TINY, "cache_dir": None},
        {"type": "stylize", "job": "second", "content": str(pairs[0][0]), "styles": [STARRY],
         "output": str(tmp_path / "second.png"), "options": TINY, "cache_dir": None},
    ])
    kinds = {e["job"]: e["type"] for e in events if e["type"] in ("cancelled", "result", "error")}
    assert kinds == {"first": "cancelled", "second": "result"}
    assert not (tmp_path / "first.png").exists() and (tmp_path / "second.png").exists()


def test_bad_input_and_other_protocol_versions_get_clear_errors(tmp_path):
    events = talk([{"type": "stylize", "job": "a", "content": str(tmp_path / "missing.png"), "styles": [STARRY],
                    "output": str(tmp_path / "o.png")},
                   {"v": 99, "type": "hello", "job": "b"}])
    by_job = {e["job"]: e for e in events}
    assert by_job["a"]["kind"] == "bad_input" and "content image not found" in by_job["a"]["message"]
    assert by_job["b"]["kind"] == "protocol" and "protocol version 99" in by_job["b"]["message"]


def test_a_texture_request_passes_its_structure_to_the_engine(tmp_path):
    from support_texture import tileable_texture

    from engine.imageio.images import write_image

    texture = write_image(tmp_path / "texture.png", tileable_texture(32))
    events = talk([{"type": "stylize_texture", "job": "flat", "texture": str(texture), "styles": [STARRY],
                    "output": str(tmp_path / "out.png"), "structure": 0.5, "options": {"iterations": 1},
                    "cache_dir": None}])
    error = next(e for e in events if e["type"] == "error")
    assert "--structure needs the object's rendered views" in error["message"]  # the engine saw it
    assert not (tmp_path / "out.png").exists()


def test_a_tuning_reports_progress_and_cancelled_mid_run_leaves_no_model(tmp_path):
    write_synthetic_sequence(tmp_path / "render", frames=2)
    output = tmp_path / "tuned.safetensors"
    worker = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

    def send(request: dict) -> None:
        worker.stdin.write(json.dumps({"v": 1, **request}) + "\n")
        worker.stdin.flush()

    try:
        send({"type": "tune", "job": "t", "style": STARRY, "content_dirs": [str(tmp_path / "render")],
              "output": str(output), "device": "cpu", "checkpoint_every": 1,
              "settings": {"steps": 10_000, "minutes": None, "sizes_px": [64], "crop_px": 64}})
        events = [json.loads(worker.stdout.readline())]
        while events[-1]["type"] != "progress":
            events.append(json.loads(worker.stdout.readline()))
        send({"type": "cancel", "job": "t"})
        while events[-1].get("job") != "t" or events[-1]["type"] not in ("result", "error", "cancelled"):
            events.append(json.loads(worker.stdout.readline()))
        send({"type": "shutdown"})
        worker.stdin.close()
        assert worker.wait(timeout=120) == 0
    finally:
        worker.kill()
    assert events[-1]["type"] == "cancelled", events[-1]
    assert "tuning step 1/10000" in next(e for e in events if e["type"] == "progress")["message"]
    assert not output.exists() and (tmp_path / "tuned.ckpt.safetensors").is_file()
