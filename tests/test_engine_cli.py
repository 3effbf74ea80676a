"""The command line: a result carries its settings; every bad input is one clear line, exit 2, and no output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.imageio import read_rgb, read_settings

from support import REPO, STYLES

STARRY = str(STYLES / "starry_night.jpg")
QUICK = ["--size", "48", "--iterations", "3", "--scales", "1", "--quiet", "--no-cache"]


def run_cli(args, capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_a_run_writes_the_image_with_its_settings_and_nothing_else(tmp_path, content_png, capsys):
    output = tmp_path / "out" / "result.png"
    output.parent.mkdir()
    code, err = run_cli(["stylize", "--content", str(content_png), "--style", STARRY, "--output", str(output),
                         "--seed", "7", *QUICK], capsys)
    assert code == 0, err
    assert read_rgb(output).shape == (36, 48, 3)
    settings = read_settings(output)
    assert settings["seed"] == 7 and settings["iterations"] == 3 and settings["weights"] == "caffe"
    assert settings["styles"] == [str(Path(STARRY).resolve())]
    assert [p.name for p in output.parent.iterdir()] == ["result.png"]  # no temporary files left behind


def test_save_every_writes_snapshots(tmp_path, content_png, capsys):
    output = tmp_path / "result.png"
    code, err = run_cli(["stylize", "--content", str(content_png), "--style", STARRY, "--output", str(output),
                         "--save-every", "2", "--size", "48", "--iterations", "4", "--scales", "2", "--quiet",
                         "--no-cache"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("result.s*")) == [
        "result.s1-i00002.png", "result.s1-i00004.png", "result.s2-i00002.png", "result.s2-i00004.png"]


def test_mask_and_region_styles_from_the_command_line(tmp_path, content_png, capsys):
    mask = np.zeros((72, 96), np.uint8)
    mask[:, 48:] = 1
    Image.fromarray(mask).save(tmp_path / "mask.png")
    output = tmp_path / "result.png"
    code, err = run_cli(["stylize", "--content", str(content_png), "--style", STARRY, "--output", str(output),
                         "--mask", str(tmp_path / "mask.png"), "--region-style", "1=keep", "--size", "96",
                         "--iterations", "3", "--scales", "1", "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(read_rgb(output)[:, 49:], read_rgb(content_png)[:, 49:], atol=1 / 255)


def _make_bad_files(tmp: Path) -> None:
    (tmp / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    (tmp / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (1, 1)).save(tmp / "one_pixel.png")
    Image.new("L", (10, 10)).save(tmp / "small_mask.png")
    Image.fromarray(np.zeros((72, 96), np.uint8)).save(tmp / "mask_ok.png")


def _bad_inputs(tmp: Path, content: Path) -> dict[str, tuple[list[str], str]]:
    out = str(tmp / "out.png")
    base = ["stylize", "--content", str(content), "--style", STARRY, *QUICK]
    return {
        "missing content": (["stylize", "--content", str(tmp / "nope.png"), "--style", STARRY, "--output", out,
                             *QUICK], "content image not found"),
        "missing style": (["stylize", "--content", str(content), "--style", str(tmp / "nope.jpg"), "--output", out,
                           *QUICK], "style image not found"),
        "unreadable image": ([*base, "--output", out, "--style", str(tmp / "garbage.png")],
                             "truncated, corrupt or not an image"),
        "empty file": (["stylize", "--content", str(tmp / "empty.jpg"), "--style", STARRY, "--output", out, *QUICK],
                       "is empty (0 bytes)"),
        "one-pixel image": (["stylize", "--content", str(tmp / "one_pixel.png"), "--style", STARRY, "--output", out,
                             *QUICK], "at least 16 px"),
        "mask of the wrong size": ([*base, "--output", out, "--mask", str(tmp / "small_mask.png"),
                                    "--region-style", "0=keep"], "make the mask at the content's resolution"),
        "unknown layer": ([*base, "--output", out, "--style-layers", "relu1_1", "relu7_1"], "unknown VGG-19 layer"),
        "missing output folder": ([*base, "--output", str(tmp / "no" / "such" / "out.png")], "does not exist"),
        "unwritable output folder": ([*base, "--output", "/proc/out.png"], "is not writable"),
        "unsupported output format": ([*base, "--output", str(tmp / "out.gif")], "unsupported extension"),
        "region setting without a mask": ([*base, "--output", out, "--region-style", "1=keep"], "need --mask"),
        "malformed region setting": ([*base, "--output", out, "--mask", str(content), "--region-style", "keep"],
                                     "is not ID=VALUE"),
        "unknown region": ([*base, "--output", out, "--mask", str(tmp / "mask_ok.png"), "--region-style", "5=keep"],
                           "are not in the mask"),
        "strength out of range": ([*base, "--output", out, "--strength", "3"], "between 0 and 1"),
        "unknown weights source": ([*base, "--output", out, "--weights", "imagenet22k"], "neither 'caffe'"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs(Path("/x"), Path("/y"))))
def test_bad_input_is_one_clear_line_and_writes_nothing(case, tmp_path, content_png, capsys):
    _make_bad_files(tmp_path)
    args, expected = _bad_inputs(tmp_path, content_png)[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, err = run_cli(args, capsys)
    assert code == 2
    assert err.startswith("error: ") and expected in err, err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_unknown_option_is_refused_by_the_real_command(tmp_path, content_png):
    done = subprocess.run([sys.executable, "-m", "engine", "stylize", "--content", str(content_png), "--style",
                           STARRY, "--output", str(tmp_path / "o.png"), "--colour", "red"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "unrecognized arguments: --colour red" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o.png").exists()
