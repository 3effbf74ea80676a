"""The hostile corpus, round two (issue 25): weights that leave nothing to optimize, Ctrl+C while the engine
imports, replies that would echo what a client sent, and (in tests/test_hostile_writes.py) every file the engine
writes. Each case is one line and exit 2 (or 130 for Ctrl+C), the worker one error of a proper kind, and nothing is
written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import REPO, STYLES, draw_content

from engine.cli import main

STARRY = str(STYLES / "starry_night.jpg")
QUICK = ["--size", "32", "--iterations", "1", "--scales", "1", "--quiet", "--no-cache", "--device", "cpu"]


@pytest.fixture()
def content_png(tmp_path) -> Path:
    path = tmp_path / "content.png"
    Image.fromarray((draw_content(48, 32) * 255).astype(np.uint8)).save(path)
    return path


def run_cli(args: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def talk_to_worker(lines: list[str], replies_wanted: int, timeout_s: float = 120) -> list[dict]:
    """Send raw request lines to a fresh worker; the error/result replies, in order (the worker must survive)."""
    worker = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    replies = []
    try:
        worker.stdin.write("".join(line + "\n" for line in lines))
        worker.stdin.flush()
        deadline = time.monotonic() + timeout_s
        while len(replies) < replies_wanted and time.monotonic() < deadline:
            line = worker.stdout.readline()
            assert line, "the worker died"
            event = json.loads(line)
            if event["type"] in ("result", "error", "ready"):
                replies.append(event)
        worker.stdin.write(json.dumps({"v": 1, "type": "shutdown"}) + "\n")
        worker.stdin.close()
        assert worker.wait(timeout=60) == 0
    finally:
        worker.kill()
    return replies


# -- 3: weights that leave nothing to optimize -----------------------------------------------------------------

@pytest.mark.parametrize("weights, expected", [
    (["--style-layer-weights", "0", "0", "0", "0", "0"], "style layer weights are all 0"),
    (["--content-weight", "0", "--style-weight", "0", "--tv-weight", "0"], "nothing is left to optimize"),
])
def test_weights_that_leave_nothing_to_optimize_are_one_line(weights, expected, content_png, tmp_path, capsys):
    output = tmp_path / "out.png"
    code, err = run_cli(["stylize", "--content", content_png, "--style", STARRY, "--output", output, *QUICK,
                         *weights], capsys)
    assert code == 2 and expected in one_line(err)
    assert not output.exists()


def test_style_layers_all_off_is_fine_without_a_style_term(content_png, tmp_path, capsys):
    output = tmp_path / "out.png"
    code, err = run_cli(["stylize", "--content", content_png, "--style", STARRY, "--output", output, *QUICK,
                         "--style-layer-weights", "0", "0", "0", "0", "0", "--style-weight", "0"], capsys)
    assert code == 0, err
    assert output.is_file()


def test_training_with_every_weight_zero_is_refused(tmp_path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.fromarray((draw_content(48, 32) * 255).astype(np.uint8)).save(frames / "a.png")
    output = tmp_path / "m.safetensors"
    code, err = run_cli(["train", "--style", STARRY, "--content-dir", frames, "--output", output, "--steps", "1",
                         "--content-weight", "0", "--style-weight", "0", "--tv-weight", "0", "--device", "cpu"],
                        capsys)
    assert code == 2 and "nothing is left to optimize" in one_line(err)
    assert not output.exists()


# -- 11: Ctrl+C from the first instant -------------------------------------------------------------------------

def _wait_for_torch_loading(pid: int, timeout_s: float = 60) -> bool:
    """Wait until the process has torch's native library mapped, i.e. is inside `import torch`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if "libtorch" in Path(f"/proc/{pid}/maps").read_text():
                return True
        except OSError:
            return False
        time.sleep(0.005)
    return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see the imports run")
def test_ctrl_c_while_the_engine_imports_is_one_line_and_130(content_png, tmp_path):
    output = tmp_path / "out.png"
    process = subprocess.Popen([sys.executable, "-m", "engine", "stylize", "--content", str(content_png), "--style",
                                STARRY, "--output", str(output), *QUICK], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for_torch_loading(process.pid), "torch never loaded"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert one_line(err) == "cancelled; no output written"
    assert not output.exists()


# -- 12: replies quote a short, marked excerpt -----------------------------------------------------------------

def test_the_worker_quotes_an_excerpt_of_what_the_client_sent(content_png, tmp_path):
    huge = "j" * 2_000_000
    long_path = str(tmp_path / ("p" * 200)) + "/" + "q" * 3000 + ".png"
    lines = [json.dumps({"v": 1, "type": "hello", "job": huge}),
             json.dumps({"v": 1, "type": "hello", "job": "ok", huge[:5000]: 1}),
             json.dumps({"v": 1, "type": "stylize", "job": "long path", "content": long_path, "styles": [STARRY],
                         "output": str(tmp_path / "out.png")}),
             json.dumps({"v": 1, "type": "stylize", "job": "layers off", "content": str(content_png),
                         "styles": [STARRY], "output": str(tmp_path / "out.png"),
                         "options": {"size_px": 32, "iterations": 1, "style_layer_weights": [0, 0, 0, 0, 0]}}),
             json.dumps({"v": 1, "type": "hello", "job": "still alive"})]
    replies = talk_to_worker(lines, 5)
    too_long, unknown_field, path, layers, alive = replies
    for reply in (too_long, unknown_field, path):
        assert reply["type"] == "error" and reply["kind"] == "bad_input", reply
        assert len(json.dumps(reply)) < 2600, f"{len(json.dumps(reply))} characters came back"
    assert too_long["job"].endswith("[cut: 2000000 characters]") and len(too_long["job"]) < 260
    assert "[cut: 5000 characters]" in unknown_field["message"]
    assert layers["kind"] == "bad_input" and "style layer weights are all 0" in layers["message"]
    assert alive["type"] == "ready" and alive["job"] == "still alive"
    assert not (tmp_path / "out.png").exists()


# -- 6: style-cache entries are checked before use -------------------------------------------------------------

def _damage_entries(cache: Path, damage) -> int:
    from safetensors import safe_open
    from safetensors.torch import save_file

    entries = sorted(cache.glob("*.safetensors"))
    for entry in entries:
        with safe_open(str(entry), framework="pt") as f:
            tensors, metadata = {name: f.get_tensor(name) for name in f.keys()}, f.metadata()
        save_file(damage(tensors), str(entry), metadata=metadata)
    return len(entries)


@pytest.mark.parametrize("damage, reason", [
    (lambda t: {name: x[:3, :3].contiguous() for name, x in t.items()}, "of shape"),
    (lambda t: {name: x.fill_(float("nan")) for name, x in t.items()}, "NaN or infinite"),
    (lambda t: {name: x.double() for name, x in t.items()}, "float64"),
])
def test_a_style_cache_entry_that_does_not_fit_is_a_miss_with_a_warning(damage, reason, content_png, tmp_path,
                                                                        capsys):
    from engine.imageio.images import read_rgb

    cache = tmp_path / "cache"
    args = ["stylize", "--content", content_png, "--style", STARRY, *QUICK[:-3], "--device", "cpu",
            "--cache-dir", cache]
    code, err = run_cli([*args, "--output", tmp_path / "first.png"], capsys)
    assert code == 0, err
    assert _damage_entries(cache, damage) >= 1
    code, err = run_cli([*args, "--output", tmp_path / "again.png"], capsys)
    assert code == 0, err
    assert "warning: style cache entry" in err and reason in err and "computing it again" in err
    again = read_rgb(tmp_path / "again.png")
    assert np.isfinite(again).all()
    assert np.abs(again - read_rgb(tmp_path / "first.png")).max() < 2 / 255
    code, err = run_cli([*args, "--output", tmp_path / "third.png"], capsys)
    assert code == 0 and "warning" not in err, "the entry computed again is used the next time"


# -- 2: every channel read is checked for NaN and infinity -----------------------------------------------------

def _write_exr(path: Path, channels: dict[str, np.ndarray]) -> Path:
    import OpenEXR

    OpenEXR.File({"type": OpenEXR.scanlineimage},
                 {name: np.ascontiguousarray(value, np.float32) for name, value in channels.items()}).write(str(path))
    return path


def _render(poisoned: str | None = None, height: int = 32, width: int = 48) -> dict[str, np.ndarray]:
    """A multilayer render's channels; one NaN in the channel named `poisoned` (without the view layer)."""
    ramp = np.linspace(0.1, 0.9, height * width, dtype=np.float32).reshape(height, width)
    channels = {"ViewLayer.Combined.R": ramp, "ViewLayer.Combined.G": ramp[::-1].copy(),
                "ViewLayer.Combined.B": ramp[:, ::-1].copy(), "ViewLayer.Combined.A": np.ones_like(ramp),
                "ViewLayer.Depth.Z": 5 + ramp, "ViewLayer.Object Index.X": (ramp > 0.5).astype(np.float32),
                "ViewLayer.Normal.X": ramp, "ViewLayer.Normal.Y": ramp, "ViewLayer.Normal.Z": ramp}
    for name in ("X", "Y", "Z", "W"):
        channels[f"ViewLayer.Vector.{name}"] = np.zeros_like(ramp)
    if poisoned is not None:
        channels[f"ViewLayer.{poisoned}"] = channels[f"ViewLayer.{poisoned}"].copy()
        channels[f"ViewLayer.{poisoned}"][3, 4] = np.nan
    return channels


@pytest.mark.parametrize("channel, options, named", [
    ("Combined.A", [], "alpha (ViewLayer.Combined.A)"),
    ("Depth.Z", ["--structure", "0.5", "--passes", "{exr}"], "Depth"),
    ("Normal.X", ["--structure", "0.5", "--passes", "{exr}"], "Normal"),
    ("Object Index.X", ["--mask", "{exr}", "--region-style", "1=keep"], "Object Index"),
])
def test_nan_in_any_channel_is_one_line_naming_it(channel, options, named, tmp_path, capsys):
    exr = _write_exr(tmp_path / "render.exr", _render(channel))
    clean = _write_exr(tmp_path / "clean.exr", _render())
    content = exr if channel == "Combined.A" else clean
    output = tmp_path / "out.png"
    code, err = run_cli(["stylize", "--content", content, "--style", STARRY, "--output", output, *QUICK,
                         *[o.format(exr=exr) for o in options]], capsys)
    assert code == 2 and f"the {named} channel has 1 NaN or infinite value(s)" in one_line(err)
    assert not output.exists()


def test_nan_in_a_flow_pass_or_a_soft_mask_is_refused_naming_it(tmp_path):
    from engine.imageio.passes import read_label_map, read_passes
    from engine.runtime.errors import EngineError

    exr = _write_exr(tmp_path / "render.exr", _render("Vector.Z"))
    with pytest.raises(EngineError, match="the Vector channel has 1 NaN"):
        read_passes(exr)
    soft = np.zeros((2, 32, 48), np.float32)
    soft[1, 2, 2] = np.inf
    np.save(tmp_path / "soft.npy", soft)
    with pytest.raises(EngineError, match="the mask channel has 1 NaN or infinite"):
        read_label_map(tmp_path / "soft.npy")


def test_an_infinite_depth_is_the_world_not_an_error(tmp_path):
    from engine.imageio.passes import FAR_DEPTH, read_passes

    channels = _render()
    channels["ViewLayer.Depth.Z"][:, :8] = np.inf
    passes = read_passes(_write_exr(tmp_path / "render.exr", channels))
    assert np.isfinite(passes.depth).all() and (passes.depth[:, :8] == FAR_DEPTH).all()


# -- 4 and 7: memory is estimated before any work -----------------------------------------------------------

@pytest.mark.parametrize("method", [[], ["--model", "any"]])
def test_a_result_too_big_for_the_machine_is_one_line_before_any_work(method, content_png, tmp_path, capsys):
    output = tmp_path / "out.png"
    started = time.monotonic()
    code, err = run_cli(["stylize", "--content", content_png, "--style", STARRY, "--output", output, *QUICK,
                         *method, "--size", "65536"], capsys)
    line = one_line(err)
    assert code == 2 and "needs about" in line and "GB is available" in line
    assert time.monotonic() - started < 30 and not output.exists()


def test_a_large_upscale_is_warned_about(content_png, tmp_path, capsys):
    code, err = run_cli(["stylize", "--content", content_png, "--style", STARRY, "--output", tmp_path / "o.png",
                         "--model", "any", "--size", "256", "--quiet", "--no-cache", "--device", "cpu"], capsys)
    assert code == 0, err
    assert "warning: the result is 5x the content's size (48x32 to 256x171 px)" in err
