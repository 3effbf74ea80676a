"""The command line: a result carries its settings; every bad input is one clear line, exit 2, and no output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import REPO, STYLES

from engine.cli import main
from engine.imageio.images import read_rgb, read_settings

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


def _reference_rows(out: str) -> dict[str, tuple[str, float]]:
    """{image name: (PSNR text, SSIM)} from the tables `metrics --reference` prints."""
    rows = [line.split("|")[1:4] for line in out.splitlines() if line.startswith("| ") and "PSNR" not in line]
    return {name.strip(): (psnr.strip(), float(ssim)) for name, psnr, ssim in rows}


def test_metrics_reference_gives_psnr_and_ssim_of_images_and_folders(tmp_path, content_png, capsys):
    pixels = np.asarray(Image.open(content_png))
    changed = pixels.copy()
    changed[10:30, 20:50] = 255 - changed[10:30, 20:50]
    for folder, picture in (("same", pixels), ("changed", changed)):
        (tmp_path / folder).mkdir()
        Image.fromarray(picture).save(tmp_path / folder / "frame_0001.png")
    assert main(["metrics", "--sequence", f"same={content_png}", "--reference", str(content_png)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "PSNR and SSIM of 'same'" in captured.out
    assert _reference_rows(captured.out) == {"content.png": ("inf (identical)", 1.0)}
    assert main(["metrics", "--sequence", f"changed={tmp_path / 'changed'}", "--sequence",
                 f"same={tmp_path / 'same'}", "--reference", str(tmp_path / "same")]) == 0
    out = capsys.readouterr().out
    changed_table, same_table = out.split("\n\n")
    psnr_text, ssim = _reference_rows(changed_table)["frame_0001.png"]
    assert 5 < float(psnr_text) < 40 and ssim < 0.95
    assert _reference_rows(same_table)["frame_0001.png"] == ("inf (identical)", 1.0)


def test_metrics_needs_passes_without_reference_and_versions_with_it(tmp_path, content_png, capsys):
    code, err = run_cli(["metrics", "--sequence", f"a={tmp_path}"], capsys)
    assert code == 2 and err == ("error: the following arguments are required: --passes "
                                 "(see 'python -m engine metrics --help')\n")
    code, err = run_cli(["metrics", "--reference", str(content_png)], capsys)
    assert code == 2 and "give --sequence NAME=IMAGE_OR_FOLDER" in err
    small = tmp_path / "small.png"
    Image.new("RGB", (8, 8)).save(small)
    code, err = run_cli(["metrics", "--sequence", f"a={small}", "--reference", str(content_png)], capsys)
    assert code == 2 and "8x8 px" in err and len(err.strip().splitlines()) == 1


def test_region_settings_mean_the_same_from_the_command_line_and_a_worker_request():
    from engine.optimizer.region_settings import command_line_regions, request_region_structure, request_regions
    from engine.runtime.errors import EngineError

    painted = command_line_regions([f"1={STARRY}", "2=keep"], ["1=0.5", "3=0"])
    assert painted[1].styles[0].shape[2] == 3 and painted[1].strength == 0.5
    assert painted[2].keep_original and painted[3].strength == 0.0
    request = {"regions": {"1": {"styles": [STARRY], "strength": 0.5, "structure": 1.0}, "2": {"keep_original": True}}}
    from_request = request_regions(request)
    assert from_request[1].strength == 0.5 and from_request[2].keep_original
    np.testing.assert_array_equal(from_request[1].styles[0], painted[1].styles[0])
    assert list(request_regions(request, present={2})) == [2]
    assert request_region_structure(request) == {1: 1.0}
    modelled = command_line_regions(["1=starry_night"], None, model="mosaic")
    assert modelled[1].model == "starry_night" and modelled[1].styles is None
    assert request_regions({"model": "mosaic", "regions": {"1": {"model": "starry_night"}}})[1].model == "starry_night"
    with pytest.raises(EngineError, match="is not ID=VALUE"):
        command_line_regions(["one=keep"], None)
    with pytest.raises(EngineError, match="the strength must be a number"):
        command_line_regions(None, ["1=strong"])
