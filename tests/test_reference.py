"""engine.measures.reference: PSNR and SSIM against reference pictures, on real files (PNG with alpha, EXR, folders)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import draw_content

from engine.imageio.images import write_image
from engine.measures.reference import ReferenceScore, compare_to_reference, format_reference_table
from engine.runtime.errors import EngineError


def noisy(rgb: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    return np.clip(rgb + np.random.default_rng(seed).normal(0.0, sigma, rgb.shape), 0.0, 1.0).astype(np.float32)


def test_identical_files_score_infinite_psnr_and_ssim_one(tmp_path):
    picture = draw_content()
    write_image(tmp_path / "a.png", picture)
    write_image(tmp_path / "b.png", picture)
    [score] = compare_to_reference(tmp_path / "a.png", tmp_path / "b.png")
    assert score == ReferenceScore("a.png", math.inf, 1.0)
    assert "inf (identical)" in format_reference_table([score])


def test_noise_gives_finite_scores_that_fall_as_it_grows(tmp_path):
    picture = draw_content()
    write_image(tmp_path / "reference.png", picture)
    scores = []
    for sigma in (0.02, 0.1):
        write_image(tmp_path / f"noisy{sigma}.png", noisy(picture, sigma))
        [score] = compare_to_reference(tmp_path / f"noisy{sigma}.png", tmp_path / "reference.png")
        scores.append(score)
    assert all(math.isfinite(s.psnr_db) and 0.0 < s.ssim < 1.0 for s in scores)
    assert 30.0 < scores[0].psnr_db < 36.0  # sigma 0.02 is about 34 dB, less the 8-bit rounding
    assert scores[1].psnr_db < scores[0].psnr_db - 10 and scores[1].ssim < scores[0].ssim


def test_folders_pair_by_name_and_alpha_gets_its_own_row(tmp_path):
    picture = draw_content()
    alpha = np.ones(picture.shape[:2], np.float32)
    alpha[:, :10] = 0.5
    for folder, sigma in (("new", 0.05), ("reference", 0.0)):
        (tmp_path / folder).mkdir()
        write_image(tmp_path / folder / "0001.png", noisy(picture, sigma) if sigma else picture, alpha=alpha)
        write_image(tmp_path / folder / "0002.exr", noisy(picture, sigma, 1) if sigma else picture)
    scores = compare_to_reference(tmp_path / "new", tmp_path / "reference")
    assert [s.name for s in scores] == ["0001.png", "0001.png (alpha)", "0002.exr"]
    assert scores[1].psnr_db == math.inf and scores[1].ssim == 1.0  # same alpha on both sides
    assert all(math.isfinite(s.psnr_db) for s in (scores[0], scores[2]))
    table = format_reference_table(scores)
    assert "| 0001.png (alpha) | inf (identical) | 1.00000 |" in table and "alpha channel alone" in table
    assert "lowest:" in table


def test_a_name_on_one_side_only_is_named(tmp_path):
    picture = draw_content()
    for folder, names in (("new", ("a.png", "b.png")), ("reference", ("a.png", "c.png"))):
        (tmp_path / folder).mkdir()
        for name in names:
            write_image(tmp_path / folder / name, picture)
    with pytest.raises(EngineError, match=r"b\.png is in .*new but not in .*reference.*c\.png is in"):
        compare_to_reference(tmp_path / "new", tmp_path / "reference")


def test_size_mismatch_names_both_sizes_and_the_fix(tmp_path):
    write_image(tmp_path / "small.png", draw_content(64, 48))
    write_image(tmp_path / "large.png", draw_content(96, 72))
    with pytest.raises(EngineError, match=r"64x48 px but its reference .* 96x72 px.*same size"):
        compare_to_reference(tmp_path / "small.png", tmp_path / "large.png")


def test_file_against_folder_and_missing_paths_are_refused(tmp_path):
    write_image(tmp_path / "a.png", draw_content())
    (tmp_path / "folder").mkdir()
    with pytest.raises(EngineError, match="is a folder but"):
        compare_to_reference(tmp_path / "a.png", tmp_path / "folder")
    with pytest.raises(EngineError, match="reference not found"):
        compare_to_reference(tmp_path / "a.png", tmp_path / "missing.png")
