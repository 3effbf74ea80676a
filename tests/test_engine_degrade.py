"""Out of memory: smaller tiles, then the CPU, then (only if allowed) a classic filter; the user is always told.

GPU memory is simulated with the engine's test hooks (NST_SIMULATE_OOM_ABOVE_PX for the primary device,
NST_SIMULATE_CPU_OOM_ABOVE_PX for the CPU fallback), so every step runs on a machine without a GPU.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support import draw_content

from engine.runtime.errors import OutOfMemory
from engine.runtime.faults import SIMULATE_CPU_OOM_ENV, SIMULATE_OOM_ENV

QUICK = dict(iterations=3, seed=0)


def test_out_of_memory_retries_with_smaller_tiles_and_keeps_the_finished_scales(engine, one_torch_thread, starry,
                                                                                monkeypatch):
    monkeypatch.setenv(SIMULATE_OOM_ENV, "200")  # a 'GPU' that fits passes up to 200 px
    seen = []
    result = engine.stylize(draw_content(256, 192), [starry], size_px=256, scales=2, callback=seen.append, **QUICK)
    assert result.settings["tiles_px"] == [None, 128]
    assert result.settings["device"] == "cpu" and result.settings["method"] == "optimization"
    assert result.settings["degraded"] == [
        "out of memory on cpu with a 256 px pass (OutOfMemoryError: simulated: 256x192 px is over the test hook's "
        "limit of 200 px); retrying with 128 px tiles"]
    assert sum(p.scale == 1 for p in seen) == QUICK["iterations"]  # the finished coarse scale was not redone
    assert seen[-1].tiles == 6 and seen[-1].notices == tuple(result.settings["degraded"])


def test_when_no_tile_fits_the_gpu_the_job_falls_back_to_the_cpu(engine, one_torch_thread, starry, monkeypatch):
    monkeypatch.setenv(SIMULATE_OOM_ENV, "100")
    result = engine.stylize(draw_content(), [starry], size_px=160, scales=1, **QUICK)
    notices = result.settings["degraded"]
    assert notices[0].startswith("out of memory on cpu with a 160 px pass") and "even with" not in notices[0]
    assert "retrying with 128 px tiles" in notices[0]
    assert notices[1].startswith("out of memory on cpu even with a 128 px pass")
    assert notices[2].startswith("falling back to the CPU")
    assert len(notices) == 3 and result.settings["method"] == "optimization"
    assert result.image.shape == (120, 160, 3)


def test_classic_filter_when_every_neural_attempt_fails_and_it_is_allowed(engine, starry, monkeypatch):
    monkeypatch.setenv(SIMULATE_OOM_ENV, "16")
    monkeypatch.setenv(SIMULATE_CPU_OOM_ENV, "16")
    content = draw_content()
    result = engine.stylize(content, [starry], size_px=96, allow_classic_fallback=True, **QUICK)
    assert result.settings["method"] == "classic filter"
    assert "classic filter instead of style transfer" in result.settings["degraded"][-1]
    assert result.image.shape == content.shape and np.isfinite(result.image).all()
    chroma = lambda rgb: cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2Lab)[..., 1:].reshape(-1, 2)  # noqa: E731
    style_mean = chroma(starry).mean(0)  # the palette (Lab a, b) moves toward the painting's
    moved, before = chroma(result.image).mean(0) - style_mean, chroma(content).mean(0) - style_mean
    assert np.abs(moved).sum() < 0.5 * np.abs(before).sum()
    assert np.abs(result.image - content).mean() > 0.05


def test_without_the_classic_fallback_the_error_names_the_fixes(engine, starry, monkeypatch):
    monkeypatch.setenv(SIMULATE_OOM_ENV, "16")
    monkeypatch.setenv(SIMULATE_CPU_OOM_ENV, "16")
    with pytest.raises(OutOfMemory) as error:
        engine.stylize(draw_content(), [starry], size_px=96, **QUICK)
    message = str(error.value)
    for fix in ("--memory-budget", "--size", "--fallback classic"):
        assert fix in message


def test_cli_prints_what_happened_and_records_it(tmp_path, content_png, monkeypatch, capsys):
    import json

    from PIL import Image
    from support import STYLES

    from engine.cli import main
    from engine.imageio.images import SETTINGS_KEY

    monkeypatch.setenv(SIMULATE_OOM_ENV, "16")
    monkeypatch.setenv(SIMULATE_CPU_OOM_ENV, "16")
    output = tmp_path / "out.png"
    base = ["stylize", "--content", str(content_png), "--style", str(STYLES / "starry_night.jpg"), "--size", "64",
            "--iterations", "2", "--device", "cpu", "--no-cache", "--quiet", "--output", str(output)]
    assert main(base) == 2
    assert "--fallback classic" in capsys.readouterr().err and not output.exists()
    assert main(base + ["--fallback", "classic"]) == 0
    err = capsys.readouterr().err
    assert "warning: out of memory on cpu" in err and "warning: wrote a classic filter" in err
    assert json.loads(Image.open(output).text[SETTINGS_KEY])["method"] == "classic filter"


def test_a_texture_that_runs_out_of_memory_moves_to_the_cpu(engine, one_torch_thread, starry, monkeypatch):
    from engine.textures.texture import TextureStylizer

    monkeypatch.setenv(SIMULATE_OOM_ENV, "16")
    result = TextureStylizer(engine).stylize_flat(draw_content(48, 48), [starry], seamless=True, iterations=2, scales=1)
    notices = result.settings["degraded"]
    assert notices[0].startswith("out of memory on cpu with a 48 px pass (OutOfMemoryError: simulated")
    assert notices[1] == "falling back to the CPU (much slower)" and len(notices) == 2
    assert result.settings["device"] == "cpu" and result.image.shape == (48, 48, 3)
    monkeypatch.setenv(SIMULATE_CPU_OOM_ENV, "16")
    with pytest.raises(OutOfMemory, match="out of memory on every device"):
        TextureStylizer(engine).stylize_flat(draw_content(48, 48), [starry], iterations=2, scales=1)
