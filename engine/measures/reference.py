"""Comparing pictures with reference pictures: PSNR and SSIM of an image or a folder against a reference.

Used by `python -m engine metrics --reference` (to compare versions of the engine, or devices) and by the golden
tests (tests/test_golden.py). Colour is compared as display sRGB in [0, 1] (EXRs are read as the engine reads them);
alpha is compared separately, as its own row, when both sides have it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..imageio.images import read_image
from ..runtime.errors import EngineError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".exr")
ALPHA_SUFFIX = " (alpha)"  # the name of an alpha row: the image's name and this


@dataclass(frozen=True)
class ReferenceScore:
    """How close one picture (or its alpha) is to its reference: PSNR in dB (inf when identical) and SSIM (1 when
    identical)."""

    name: str
    psnr_db: float
    ssim: float


def psnr_db(image: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for pixel values in [0, 1]; inf for identical pictures."""
    with np.errstate(divide="ignore"):
        return float(peak_signal_noise_ratio(reference, image, data_range=1.0))


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004: 11-px Gaussian window, sigma 1.5) for values in [0, 1]."""
    channel_axis = -1 if image.ndim == 3 else None
    return float(structural_similarity(reference, image, data_range=1.0, channel_axis=channel_axis,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def compare_images(image: np.ndarray, reference: np.ndarray, name: str) -> ReferenceScore:
    """The score of one array (H x W or H x W x C, values in [0, 1]) against a reference of the same shape."""
    image = np.asarray(image, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if image.shape != reference.shape:
        raise EngineError(f"{name}: shape {image.shape} differs from the reference's {reference.shape}")
    return ReferenceScore(name, psnr_db(image, reference), ssim(image, reference))


def _compare_files(image_path: Path, reference_path: Path, name: str) -> list[ReferenceScore]:
    rgb, alpha = read_image(image_path, "image")
    reference_rgb, reference_alpha = read_image(reference_path, "reference image")
    if rgb.shape != reference_rgb.shape:
        height, width = rgb.shape[:2]
        ref_height, ref_width = reference_rgb.shape[:2]
        raise EngineError(f"{image_path} is {width}x{height} px but its reference {reference_path} is "
                          f"{ref_width}x{ref_height} px; render or stylize both at the same size (--size) to "
                          "compare them")
    scores = [compare_images(rgb, reference_rgb, name)]
    if alpha is not None and reference_alpha is not None:
        scores.append(compare_images(alpha, reference_alpha, name + ALPHA_SUFFIX))
    return scores


def _images_in(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}


def compare_to_reference(image: Path, reference: Path) -> list[ReferenceScore]:
    """PSNR and SSIM of `image` against `reference`: two files, or two folders whose pictures pair by file name.

    Raises EngineError for a missing path, a file compared with a folder, a name on one side only, or pictures of
    different sizes.
    """
    image, reference = Path(image), Path(reference)
    for path, what in ((image, "image"), (reference, "reference")):
        if not path.exists():
            raise EngineError(f"{what} not found: {path}; check the path")
    if image.is_dir() != reference.is_dir():
        folder, file = (image, reference) if image.is_dir() else (reference, image)
        raise EngineError(f"{folder} is a folder but {file} is a file; compare two images or two folders")
    if not image.is_dir():
        return _compare_files(image, reference, image.name)
    images, references = _images_in(image), _images_in(reference)
    only_image = sorted(set(images) - set(references))
    only_reference = sorted(set(references) - set(images))
    if only_image or only_reference:
        missing = ([f"{name} is in {image} but not in {reference}" for name in only_image]
                   + [f"{name} is in {reference} but not in {image}" for name in only_reference])
        raise EngineError("; ".join(missing) + "; the folders' pictures pair by file name")
    if not images:
        raise EngineError(f"{image} and {reference} have no pictures ({', '.join(IMAGE_SUFFIXES)}) to compare")
    return [score for name in images for score in _compare_files(images[name], references[name], name)]


def _decibels(value: float) -> str:
    return "inf (identical)" if math.isinf(value) else f"{value:.2f}"


def format_reference_table(scores: list[ReferenceScore]) -> str:
    """A Markdown table of the scores, one row per picture (alpha rows named '... (alpha)'), lowest PSNR noted."""
    lines = ["| image | PSNR (dB) | SSIM |", "|---|---|---|"]
    lines += [f"| {s.name} | {_decibels(s.psnr_db)} | {s.ssim:.5f} |" for s in scores]
    if any(s.name.endswith(ALPHA_SUFFIX) for s in scores):
        lines.append(f"colour is compared as sRGB; rows named '...{ALPHA_SUFFIX}' compare the alpha channel alone")
    if len(scores) > 1:
        worst = min(scores, key=lambda s: s.psnr_db)
        lines.append(f"lowest: {worst.name} at {_decibels(worst.psnr_db)} dB PSNR, "
                     f"lowest SSIM {min(s.ssim for s in scores):.5f}")
    return "\n".join(lines)
