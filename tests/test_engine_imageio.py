"""Image files in and out: every common pixel format reads as sRGB, EXR round-trips, bad files are named."""

from __future__ import annotations

import os
import zlib

import cv2
import numpy as np
import OpenEXR
import pytest
from PIL import Image

from engine.imageio.color import linear_to_srgb, srgb_to_linear
from engine.imageio.images import read_image, read_settings, write_image
from engine.imageio.passes import read_label_map
from engine.runtime.errors import EngineError

GRADIENT = np.dstack(np.meshgrid(np.linspace(0, 1, 40), np.linspace(0, 1, 30)) + [np.full((30, 40), 0.5)])


def test_common_pixel_formats_read_as_rgb_in_unit_range(tmp_path):
    rgb8 = (GRADIENT * 255).round().astype(np.uint8)
    Image.fromarray(rgb8).convert("L").save(tmp_path / "grey.png")
    Image.fromarray(rgb8).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rgb8).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(np.dstack([rgb8, np.full((30, 40), 128, np.uint8)])).save(tmp_path / "alpha.png")
    cv2.imwrite(str(tmp_path / "deep.png"), (GRADIENT[..., ::-1] * 65535).round().astype(np.uint16))
    Image.fromarray((GRADIENT[..., 0] * 65535).astype(np.uint16)).save(tmp_path / "grey16.png")
    for name in ("grey.png", "cmyk.jpg", "palette.png", "alpha.png", "deep.png", "grey16.png"):
        rgb, alpha = read_image(tmp_path / name)
        assert rgb.shape == (30, 40, 3) and rgb.dtype == np.float32, name
        assert 0.0 <= rgb.min() and rgb.max() <= 1.0, name
        assert (alpha is not None) == (name == "alpha.png"), name
    deep, _ = read_image(tmp_path / "deep.png")
    np.testing.assert_allclose(deep, GRADIENT, atol=1e-4)  # all 16 bits kept, not truncated to 8


def test_exr_is_scene_linear_and_round_trips(tmp_path):
    path = write_image(tmp_path / "out.exr", GRADIENT, {"seed": 3})
    channels = OpenEXR.File(str(path), separate_channels=True).channels()
    np.testing.assert_allclose(channels["R"].pixels, srgb_to_linear(GRADIENT[..., 0]), atol=2e-3)  # linear inside
    rgb, _ = read_image(path)
    np.testing.assert_allclose(rgb, GRADIENT, atol=3e-3)
    assert read_settings(path) == {"seed": 3}


def test_blender_multilayer_exr_combined_pass_is_found(tmp_path):
    linear = srgb_to_linear(GRADIENT)
    channels = {f"ViewLayer.Combined.{c}": linear[..., i].astype(np.float32) for i, c in enumerate("RGB")}
    channels["ViewLayer.Depth.Z"] = np.ones((30, 40), np.float32)
    OpenEXR.File({"type": OpenEXR.scanlineimage}, channels).write(str(tmp_path / "render.exr"))
    rgb, _ = read_image(tmp_path / "render.exr")
    np.testing.assert_allclose(rgb, linear_to_srgb(linear), atol=1e-5)


def test_nan_in_hdr_input_is_refused(tmp_path):
    bad = np.ones((30, 40), np.float32)
    bad[3, 4] = np.nan
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"R": bad, "G": bad, "B": bad}).write(str(tmp_path / "nan.exr"))
    with pytest.raises(EngineError, match="NaN or infinite"):
        read_image(tmp_path / "nan.exr")


def test_truncated_files_are_refused(tmp_path):
    Image.fromarray((GRADIENT * 255).astype(np.uint8)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineError, match="truncated, corrupt"):
        read_image(tmp_path / "cut.png")
    write_image(tmp_path / "full.exr", GRADIENT)
    data = (tmp_path / "full.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineError, match="not a valid EXR"):
        read_image(tmp_path / "cut.exr")


def test_huge_declared_size_is_refused_before_decoding(tmp_path):
    Image.new("L", (20, 20)).save(tmp_path / "small.png")
    data = bytearray((tmp_path / "small.png").read_bytes())
    data[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR width and height
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    (tmp_path / "huge.png").write_bytes(bytes(data))
    with pytest.raises(EngineError, match="declares 100000x100000 px"):
        read_image(tmp_path / "huge.png")


def test_label_maps_from_png_exr_and_npy(tmp_path):
    ids = np.zeros((30, 40), np.uint8)
    ids[:, 20:] = 3
    Image.fromarray(ids).save(tmp_path / "ids.png")
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"ViewLayer.Object Index.X": ids.astype(np.float32)}).write(
        str(tmp_path / "ids.exr"))
    np.save(tmp_path / "soft.npy", np.stack([1.0 - ids / 3, ids / 3]).astype(np.float32))
    for name in ("ids.png", "ids.exr"):
        np.testing.assert_array_equal(read_label_map(tmp_path / name), ids)
    assert read_label_map(tmp_path / "soft.npy").shape == (2, 30, 40)


def test_outputs_get_ordinary_file_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_image(tmp_path / "out.png", GRADIENT)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by the farm and other users, unlike a raw temp file
