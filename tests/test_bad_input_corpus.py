"""The bad-input corpus: every case gets one clear line and exit 2, writes nothing and changes no input file;
the unusual-but-valid pixel formats (16-bit, grey, CMYK, palette, alpha) just work."""

from __future__ import annotations

import hashlib
import subprocess
import zlib
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest
import torch
from PIL import Image
from support import STYLES, draw_content

from engine.cli import main
from engine.imageio.images import read_rgb
from engine.runtime.errors import EngineError

STARRY = str(STYLES / "starry_night.jpg")
QUICK = ["--size", "48", "--iterations", "2", "--scales", "1", "--quiet", "--no-cache"]


def _exr(path: Path, value: float | None = None, size=(72, 96)) -> None:
    pixels = np.full(size, 0.5, np.float32)
    if value is not None:
        pixels[5, 5] = value
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {c: pixels for c in "RGB"}).write(str(path))


def make_corpus(folder: Path) -> None:
    """Every input file the cases use, good and bad."""
    content = (draw_content() * 255).astype(np.uint8)
    Image.fromarray(content).save(folder / "content.png")
    Image.fromarray(content).save(folder / "content.jpg")
    _exr(folder / "content.exr")
    for name in ("empty.png", "empty.jpg", "empty.exr"):
        (folder / name).write_bytes(b"")
    for name in ("content.png", "content.jpg", "content.exr"):
        data = (folder / name).read_bytes()
        (folder / f"truncated{Path(name).suffix}").write_bytes(data[: len(data) // 3])
    (folder / "garbage.png").write_bytes(bytes(range(256)) * 8)
    (folder / "notes.jpg").write_text("this is a text file, not a picture")
    data = bytearray((folder / "content.png").read_bytes())
    data[16:24] = (200_000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    (folder / "huge.png").write_bytes(bytes(data))
    Image.new("RGB", (1, 1)).save(folder / "one_pixel.png")
    Image.new("RGB", (200, 8)).save(folder / "sliver.png")
    _exr(folder / "nan.exr", float("nan"))
    _exr(folder / "inf.exr", float("inf"))
    Image.new("L", (10, 10)).save(folder / "small_mask.png")
    Image.fromarray(np.zeros((72, 96), np.uint8)).save(folder / "mask.png")
    (folder / "folder.png").mkdir()
    # valid but unusual pixel formats
    cv2.imwrite(str(folder / "deep16.png"), (draw_content()[..., ::-1] * 65535).astype(np.uint16))
    Image.fromarray(content).convert("L").save(folder / "grey.png")
    Image.fromarray((draw_content()[..., 0] * 65535).astype(np.uint16)).save(folder / "grey16.png")
    Image.fromarray(content).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(content).convert("P").save(folder / "palette.png")
    Image.fromarray(content).convert("RGBA").save(folder / "rgba.png")
    Image.fromarray(content).convert("LA").save(folder / "grey_alpha.png")
    (folder / "out").mkdir()


def stylize(folder: Path, *extra: str, content: str = "content.png", output: str = "out/result.png") -> list[str]:
    return ["stylize", "--content", str(folder / content), "--style", STARRY, "--output", str(folder / output),
            *QUICK, *extra]


BAD = {  # case: (arguments given the corpus folder, words the message must contain)
    "missing content": (lambda f: stylize(f, content="nope.png"), "content image not found"),
    "missing style": (lambda f: stylize(f, "--style", str(f / "nope.jpg")), "style image not found"),
    "content is a folder": (lambda f: stylize(f, content="folder.png"), "is a folder"),
    "zero-byte PNG": (lambda f: stylize(f, content="empty.png"), "is empty (0 bytes)"),
    "zero-byte JPEG": (lambda f: stylize(f, content="empty.jpg"), "is empty (0 bytes)"),
    "zero-byte EXR": (lambda f: stylize(f, content="empty.exr"), "is empty (0 bytes)"),
    "truncated PNG": (lambda f: stylize(f, content="truncated.png"), "truncated, corrupt"),
    "truncated JPEG": (lambda f: stylize(f, content="truncated.jpg"), "truncated, corrupt"),
    "truncated EXR": (lambda f: stylize(f, content="truncated.exr"), "not a valid EXR"),
    "random bytes named .png": (lambda f: stylize(f, content="garbage.png"), "truncated, corrupt or not an image"),
    "text file named .jpg": (lambda f: stylize(f, content="notes.jpg"), "truncated, corrupt or not an image"),
    "huge declared dimensions": (lambda f: stylize(f, content="huge.png"), "declares 200000x200000 px"),
    "1-pixel image": (lambda f: stylize(f, content="one_pixel.png"), "at least 16 px"),
    "8-pixel-high sliver": (lambda f: stylize(f, content="sliver.png"), "at least 16 px"),
    "NaN in HDR input": (lambda f: stylize(f, content="nan.exr"), "NaN or infinite"),
    "Inf in HDR input": (lambda f: stylize(f, content="inf.exr"), "NaN or infinite"),
    "mask of the wrong size": (lambda f: stylize(f, "--mask", str(f / "small_mask.png"), "--region-style", "0=keep"),
                               "make the mask at the content's resolution"),
    "unreadable mask": (lambda f: stylize(f, "--mask", str(f / "garbage.png")), "cannot read mask"),
    "region not in the mask": (lambda f: stylize(f, "--mask", str(f / "mask.png"), "--region-style", "4=keep"),
                               "are not in the mask"),
    "region style without a mask": (lambda f: stylize(f, "--region-style", "1=keep"), "need --mask"),
    "malformed region style": (lambda f: stylize(f, "--mask", str(f / "mask.png"), "--region-style", "keep"),
                               "is not ID=VALUE"),
    "region strength not a number": (lambda f: stylize(f, "--mask", str(f / "mask.png"), "--region-strength",
                                                       "0=lots"), "must be a number"),
    "strength out of range": (lambda f: stylize(f, "--strength", "2"), "between 0 and 1"),
    "unknown layer": (lambda f: stylize(f, "--content-layers", "relu4_9"), "unknown VGG-19 layer"),
    "layer weights do not match layers": (lambda f: stylize(f, "--style-layer-weights", "1", "2"),
                                          "one weight per layer"),
    "blend weights do not match styles": (lambda f: stylize(f, "--style-weights", "0.5", "0.5"),
                                          "one weight per style"),
    "unknown option": (lambda f: stylize(f, "--colour", "red"), "unrecognized arguments"),
    "unknown optimizer": (lambda f: stylize(f, "--optimizer", "sgd"), "invalid choice"),
    "size too small": (lambda f: stylize(f, "--size", "8"), "--size: 8 is out of range"),
    "no iterations": (lambda f: stylize(f, "--iterations", "0"), "--iterations: 0 is out of range"),
    "missing output folder": (lambda f: stylize(f, output="nowhere/result.png"), "does not exist"),
    "unwritable output folder": (lambda f: [*stylize(f)[:5], "--output", "/proc/result.png", *QUICK],
                                 "is not writable"),
    "unsupported output format": (lambda f: stylize(f, output="out/result.gif"), "unsupported extension"),
    "output is a folder": (lambda f: stylize(f, output="folder.png"), "is a folder"),
    "unknown weights source": (lambda f: stylize(f, "--weights", "vgg99"), "neither 'caffe'"),
    "unknown device": (lambda f: stylize(f, "--device", "tpu"), "unknown device"),
    "CUDA asked for without a GPU": (lambda f: stylize(f, "--device", "cuda"), "sees no CUDA GPU"),
}


def _fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    make_corpus(folder)
    return folder


@pytest.mark.parametrize("name, words", [
    ("empty.png", "is empty (0 bytes)"), ("empty.exr", "is empty (0 bytes)"),
    ("truncated.jpg", "truncated, corrupt"), ("truncated.exr", "not a valid EXR"),
    ("notes.jpg", "not an image"), ("huge.png", "declares 200000x200000 px"), ("sliver.png", "at least 16 px"),
    ("nan.exr", "NaN or infinite"), ("folder.png", "is a folder"),
])
def test_the_engines_reader_refuses_each_bad_file_naming_it(name, words, corpus):
    """The refusals come from the one reader every entry uses (command line, worker, batch), not from each entry."""
    with pytest.raises(EngineError) as refused:
        read_rgb(corpus / name)
    assert words in str(refused.value) and str(corpus / name) in str(refused.value)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_clearly_and_nothing_is_written_or_lost(case, corpus, capsys):
    if case == "CUDA asked for without a GPU" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    arguments, words = BAD[case]
    before = _fingerprint(corpus)
    code = main(arguments(corpus))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1, err
    assert _fingerprint(corpus) == before  # no output, no temporary file, no input changed


def test_a_failed_run_leaves_an_earlier_result_untouched(corpus, capsys):
    assert main(stylize(corpus, output="out/keep.png")) == 0
    kept = (corpus / "out" / "keep.png").read_bytes()
    assert main(stylize(corpus, "--style", str(corpus / "truncated.jpg"), output="out/keep.png")) == 2
    assert (corpus / "out" / "keep.png").read_bytes() == kept


@pytest.mark.parametrize("name", ["deep16.png", "grey.png", "grey16.png", "cmyk.jpg", "palette.png", "rgba.png",
                                  "grey_alpha.png", "content.exr"])
def test_unusual_pixel_formats_just_work(name, corpus, capsys):
    output = f"out/{Path(name).stem}_styled.png"
    assert main(stylize(corpus, content=name, output=output)) == 0, capsys.readouterr().err
    with Image.open(corpus / output) as image:
        assert image.size == (48, 36)


def test_a_full_disk_is_reported_and_leaves_no_partial_file(tmp_path, capsys):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(tiny)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        content = tmp_path / "content.png"
        Image.fromarray((np.random.default_rng(0).random((72, 96, 3)) * 255).astype(np.uint8)).save(content)
        code = main(["stylize", "--content", str(content), "--style", STARRY, "--output", str(tiny / "r.png"),
                     "--size", "96", "--iterations", "2", "--scales", "1", "--quiet", "--no-cache"])
        err = capsys.readouterr().err
        assert code == 2 and "the disk is full" in err, err
        assert list(tiny.iterdir()) == []
    finally:
        subprocess.run(["umount", str(tiny)], check=True)
