"""Farm stages through the batch entry on a real render: strict chunks equal one machine bit for bit, a chunk that
comes too early is refused, overlap chunks join, and anchors train one network that every chunk runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from blender_kit import STYLES
from test_batch import batch, blend_file  # noqa: F401 - the fixture is shared

from engine.imageio.images import read_rgb, read_settings

QUICK = ["--style", str(STYLES / "starry_night.jpg"), "--size", "48", "--iterations", "4"]
NAMES = [f"frame_{n:04d}.png" for n in (1, 2, 3)]


def run(*args: str) -> None:
    done = batch(*args)
    assert done.returncode == 0, done.stdout + done.stderr


def frames(folder: Path) -> list[np.ndarray]:
    return [read_rgb(folder / name) for name in NAMES]


@pytest.fixture
def rendered(blend_file, tmp_path) -> Path:  # noqa: F811 - the fixture imported above
    """The shot's renders, made by two render tasks, in a folder each test copies."""
    out = tmp_path / "renders"
    for chunk in ("1-2", "3-3"):
        run(str(blend_file), *QUICK, "--stage", "render", "--shot", "1-3", "--frames", chunk, "--output", str(out))
    assert sorted(p.name for p in (out / "render").glob("*.png")) == NAMES
    assert not (out / "stylized").exists()
    return out


def copy_renders(rendered: Path, folder: Path) -> Path:
    shutil.copytree(rendered / "render", folder / "render")
    return folder


def test_strict_chunks_match_one_machine_and_refuse_to_run_early(blend_file, rendered, tmp_path):  # noqa: F811
    one = copy_renders(rendered, tmp_path / "one")
    run(str(blend_file), *QUICK, "--frames", "1-3", "--output", str(one))
    farm = copy_renders(rendered, tmp_path / "farm")
    chunk = [str(blend_file), *QUICK, "--stage", "stylize", "--shot", "1-3", "--output", str(farm)]
    early = batch(*chunk, "--frames", "3-3")
    assert early.returncode == 1 and "run the previous chunk first" in early.stderr, early.stderr
    assert not list((farm / "stylized").glob("*.png"))
    run(*chunk, "--frames", "1-2")
    run(*chunk, "--frames", "3-3")
    for chunked, whole in zip(frames(farm / "stylized"), frames(one / "stylized")):
        assert np.array_equal(chunked, whole)


def test_overlap_chunks_run_in_any_order_and_join(blend_file, rendered, tmp_path):  # noqa: F811
    farm = copy_renders(rendered, tmp_path / "farm")
    chunk = [str(blend_file), *QUICK, "--stage", "stylize", "--shot", "1-3", "--chunking", "overlap", "--warmup", "1",
             "--output", str(farm)]
    run(*chunk, "--frames", "3-3")
    run(*chunk, "--frames", "1-2")
    assert sorted(p.name for p in (farm / "stylized" / "chunks" / "3-3").iterdir()) == NAMES[1:]
    run(str(blend_file), *QUICK, "--stage", "join", "--shot", "1-3", "--output", str(farm))
    assert read_settings(farm / "stylized" / NAMES[1])["crossfade_share"] == pytest.approx(0.5)
    assert [image.shape for image in frames(farm / "stylized")] == [(36, 48, 3)] * 3


def test_anchor_chunks_use_one_trained_network(blend_file, rendered, tmp_path):  # noqa: F811
    farm = copy_renders(rendered, tmp_path / "farm")
    common = [str(blend_file), *QUICK, "--shot", "1-3", "--chunking", "anchors", "--output", str(farm)]
    too_soon = batch(*common, "--stage", "stylize", "--frames", "1-2")
    assert too_soon.returncode == 1 and "run the train stage first" in too_soon.stderr, too_soon.stderr
    run(*common, "--stage", "train", "--keyframes", "2", "--train-steps", "3")
    assert (farm / "shot_model.safetensors").is_file()
    for chunk in ("3-3", "1-2"):
        run(*common, "--stage", "stylize", "--frames", chunk)
    assert sorted(p.name for p in (farm / "stylized").glob("*.png")) == NAMES
    assert read_settings(farm / "stylized" / NAMES[2])["model_file"] == str(farm / "shot_model.safetensors")
