"""Does reduced precision keep the quality of float32? Final style and content distances of bf16 runs
against float32 runs, averaged over several contents (the test photos when present, and the other paintings), next to float32's own noise floor (the same run with two
threads instead of one, which only reorders sums). The issue's bar: within 2%.

Usage: python scripts/precision_check.py [--size 128] [--iterations 50]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import content_distance, style_distance  # noqa: E402
from engine.stylize import StyleTransfer  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "photos"  # test photos, not part of the project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--photo-dir", type=Path, default=PHOTOS)
    args = parser.parse_args()
    style = read_rgb(REPO / "styles" / "starry_night.jpg")
    contents = sorted(args.photo_dir.glob("*.jpg")) + [REPO / "styles" / f"{name}.jpg" for name in
                                                        ("shipwreck", "reservoir_poitiers", "woman_with_hat")]
    photos = [read_rgb(p) for p in contents]
    engine = StyleTransfer(device="cpu", cache_dir=None)
    options = dict(size_px=args.size, scales=2, iterations=args.iterations, seed=0)

    def distances(precision: str, threads: int) -> np.ndarray:
        torch.set_num_threads(threads)
        runs = [engine.stylize(photo, [style], precision=precision, **options) for photo in photos]
        return np.array([[style_distance(r.image, style, args.size), content_distance(r.image, photo, args.size)]
                         for r, photo in zip(runs, photos)])

    reference = distances("fp32", 1)
    print(f"{len(photos)} contents x starry_night, {args.size} px, 2 scales, {args.iterations} iterations, CPU\n")
    print("| run | style distance vs fp32: ratio of means (per content) | content distance vs fp32 |\n|---|---|---|")
    for name, precision, threads in (("fp32, 2 threads (noise floor)", "fp32", 2), ("bf16", "bf16", 1)):
        runs = distances(precision, threads)
        ratio, spread = runs.mean(0) / reference.mean(0), runs[:, 0] / reference[:, 0]
        print(f"| {name} | {ratio[0]:.3f} (single contents {spread.min():.3f}-{spread.max():.3f}) | {ratio[1]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
