"""Memory stays flat on long shots: `engine sequence` reads each frame's passes once and keeps only a few.

The real command runs in a child process on generated 480x270 frames with Blender-style passes (Vector, Depth,
Object Index); a small wrapper process reports the child's peak resident memory. The network runs at 160 px to
keep the test short: the passes, which are what a shot accumulated, are read at the frames' full 480x270.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import write_synthetic_sequence

from engine.imageio.passes import read_passes

REPO_ROOT = Path(__file__).resolve().parents[1]
PEAK_RSS = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def _peak_rss_mb(frames: str, passes: str, output: Path) -> float:
    """Peak resident memory of `python -m engine sequence --model starry_night` over those frames, in MB."""
    output.mkdir()
    command = [sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "engine", "sequence", "--model", "starry_night",
               "--frames", frames, "--passes", passes, "--output-dir", str(output), "--size", "160",
               "--device", "cpu", "--quiet"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024  # ru_maxrss: KiB on Linux


@pytest.mark.slow
def test_peak_memory_of_a_40_frame_shot_is_within_50_mb_of_a_10_frame_one(tmp_path):
    shot = tmp_path / "shot"
    write_synthetic_sequence(shot, frames=40, height=270, width=480)
    ten = _peak_rss_mb(str(shot / "frame_000[0-9].png"), str(shot / "frame_000[0-9].exr"), tmp_path / "ten")
    forty = _peak_rss_mb(str(shot / "*.png"), str(shot / "*.exr"), tmp_path / "forty")
    assert len(list((tmp_path / "forty").iterdir())) == 40
    print(f"peak resident memory: 10 frames {ten:.0f} MB, 40 frames {forty:.0f} MB")
    assert forty - ten < 50, f"10 frames peak at {ten:.0f} MB, 40 frames at {forty:.0f} MB"


def test_passes_are_read_once_and_only_the_newest_are_kept(tmp_path, monkeypatch):
    import engine.shots.temporal as temporal

    exrs = [exr for _, exr in write_synthetic_sequence(tmp_path, frames=4)]
    reads = []
    monkeypatch.setattr(temporal, "read_passes", lambda path: reads.append(path) or read_passes(path))
    cache = temporal.PassesCache(2)
    for path in (exrs[0], exrs[1], exrs[0], exrs[1], exrs[2], exrs[1], exrs[3]):
        assert cache[path].shape == (48, 64)
    assert reads == exrs  # each file once: the window (2) always held the earlier ones when they came back
    assert list(cache) == [exrs[1], exrs[3]]
