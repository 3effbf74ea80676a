"""The hostile corpus, issue 25, on sequences and on memory: a frame of another size or an unreadable frame is
found before any frame is written (finding 14); a resume with other picture-shaping settings is refused with the
difference named, or redoes the frames with --overwrite (finding 10); an image whose decoded pixels would not fit
is refused by its decoded bytes before it is decoded, and a huge upscale warns with its memory figure (finding 7).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from support import STYLES, draw_content

from engine.cli import main
from engine.imageio.images import read_settings

STARRY = str(STYLES / "starry_night.jpg")
SHIPWRECK = str(STYLES / "shipwreck.jpg")
QUICK = ["--size", "32", "--iterations", "1", "--later-iterations", "1", "--scales", "1", "--quiet", "--no-cache",
         "--device", "cpu"]


def frames_folder(folder: Path, sizes: list[tuple[int, int]]) -> Path:
    folder.mkdir(parents=True)
    for number, (width, height) in enumerate(sizes, start=1):
        Image.fromarray((draw_content(width, height) * 255).astype(np.uint8)).save(folder / f"frame_{number:04d}.png")
    return folder


def sequence(frames: Path, out: Path, capsys, *more) -> tuple[int, str]:
    out.mkdir(exist_ok=True)
    code = main(["sequence", "--frames", str(frames), "--output-dir", str(out), *QUICK, *map(str, more)])
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_frame_of_another_size_is_found_before_any_frame_is_written(tmp_path, capsys):
    frames = frames_folder(tmp_path / "frames", [(48, 32), (48, 32), (40, 32)])
    code, err = sequence(frames, tmp_path / "out", capsys, "--style", STARRY)
    assert code == 2 and "frame_0003.png is 40x32 px" in one_line(err), err
    assert list((tmp_path / "out").iterdir()) == []


def test_an_unreadable_last_frame_is_found_before_any_frame_is_written(tmp_path, capsys):
    frames = frames_folder(tmp_path / "frames", [(48, 32), (48, 32)])
    whole = (frames / "frame_0002.png").read_bytes()
    (frames / "frame_0002.png").write_bytes(whole[: len(whole) // 2])
    code, err = sequence(frames, tmp_path / "out", capsys, "--style", STARRY)
    assert code == 2 and "frame_0002.png" in one_line(err), err
    assert list((tmp_path / "out").iterdir()) == []


def test_a_resume_with_other_picture_shaping_settings_is_refused_or_redone_with_overwrite(tmp_path, capsys):
    frames = frames_folder(tmp_path / "frames", [(48, 32), (48, 32), (48, 32)])
    out = tmp_path / "out"
    code, err = sequence(frames, out, capsys, "--style", STARRY, "--no-temporal")
    assert code == 0, err
    recorded = read_settings(out / "frame_0001.png")
    assert recorded["styles"] == [str(Path(STARRY).resolve())] and recorded["shaping"]["size_px"] == 32
    (out / "frame_0003.png").unlink()  # an interrupted run: two frames kept
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    for more, named in ((["--style", SHIPWRECK], "styles"), (["--style", STARRY, "--style-weight", "7"],
                                                              "style_weight"),
                        (["--style", STARRY, "--size", "40"], "size_px"),
                        (["--style", STARRY, "--style", SHIPWRECK], "styles")):
        code, err = sequence(frames, out, capsys, *more, "--no-temporal")
        line = one_line(err)
        assert code == 2 and f"with {named} " in line and "--overwrite" in line, (more, err)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == kept
    code, err = sequence(frames, out, capsys, "--style", SHIPWRECK, "--no-temporal", "--overwrite")
    assert code == 0, err
    for number in (1, 2, 3):
        assert read_settings(out / f"frame_{number:04d}.png")["styles"] == [str(Path(SHIPWRECK).resolve())]
    code, err = sequence(frames, out, capsys, "--style", SHIPWRECK, "--no-temporal")  # the same settings: resumes
    assert code == 0, err


def png_header_only(path: Path, width: int, height: int, bit_depth: int, colour_type: int) -> Path:
    """A valid PNG signature and header declaring `width` x `height`, a few bytes of data: tiny on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(4096)))
                     + chunk(b"IEND", b""))
    return path


def test_a_small_png_declaring_gigabytes_of_16_bit_rgba_is_refused_before_decoding(tmp_path, capsys):
    big = png_header_only(tmp_path / "big.png", 16000, 16000, 16, 6)  # 16000x16000 16-bit RGBA
    out = tmp_path / "out.png"
    code = main(["stylize", "--content", str(big), "--style", STARRY, "--output", str(out), "--size", "32",
                 "--iterations", "1", "--scales", "1", "--quiet", "--no-cache", "--device", "cpu"])
    line = one_line(capsys.readouterr().err)
    assert code == 2 and "16000x16000 px, 4 channel(s) of 16 bits" in line and " GB" in line, line
    assert not out.exists()
    Image.fromarray((draw_content(48, 32) * 255).astype(np.uint8)).save(tmp_path / "c.png")
    code = main(["stylize", "--content", str(tmp_path / "c.png"), "--style", str(big), "--output", str(out),
                 "--size", "32", "--quiet", "--no-cache", "--device", "cpu"])
    assert code == 2 and "style image" in one_line(capsys.readouterr().err) and not out.exists()


def test_a_huge_upscale_warns_with_its_memory_figure(tmp_path, capsys):
    from engine.optimizer.tiling import check_result_fits_in_memory

    warnings = check_result_fits_in_memory((64, 64), 4096, 4096)
    assert len(warnings) == 1 and "64x" in warnings[0] and "GB" in warnings[0], warnings
