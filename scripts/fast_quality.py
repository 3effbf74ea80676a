"""Quality of the bundled fast models against the optimizer, on content not used in training.

Prints a markdown table of style and content distances (engine.measures.metrics) for each model and content, and writes
a contact sheet (content | optimizer | fast) per model to docs/images/. Usage: `python scripts/fast_quality.py
[--size 384] [--iterations 100] [--photos]` (--photos adds ../shared/data/photos, measured locally, not shipped).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts"), str(REPO / "tests")]

from make_training_content import make_picture  # noqa: E402
from support import draw_content  # noqa: E402

from bench.sheets import caption, fit, join, save  # noqa: E402
from engine.fast.stylize_fast import stylize_fast  # noqa: E402
from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import content_distance, style_distance  # noqa: E402
from engine.stylize import StyleTransfer  # noqa: E402

HELD_OUT_SEEDS = (900_001,)  # far from the training pictures' seeds 0..399
PHOTOS = REPO.parent / "shared" / "data" / "photos"


def held_out_content(size_px: int, photos: bool) -> dict[str, np.ndarray]:
    content = {"drawn landscape (tests)": draw_content(size_px, size_px * 3 // 4)}
    for seed in HELD_OUT_SEEDS:
        content[f"procedural, seed {seed}"] = np.asarray(make_picture(seed, size_px), np.float32) / 255.0
    if photos:
        for path in sorted(PHOTOS.glob("*.jpg")):
            content[f"photo {path.stem} (local only)"] = read_rgb(path)
    return content


def contact_sheet(rows: list[list[np.ndarray]], title: str, path: Path, height_px: int = 256) -> None:
    """Rows of pictures at `height_px`, under a title."""
    lines = [join([fit(image, height_px) for image in row], gap_px=8) for row in rows]
    save(caption(join(lines, gap_px=8, vertical=True), title, strip_px=28), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384, help="longest side of both results in pixels")
    parser.add_argument("--iterations", type=int, default=100, help="optimizer iterations per scale")
    parser.add_argument("--photos", action="store_true", help="also measure the shared photos (not in the sheet)")
    parser.add_argument("--models", nargs="+", default=["starry_night", "shipwreck"])
    args = parser.parse_args()
    optimizer = StyleTransfer(device="auto", cache_dir=None)
    content = held_out_content(args.size, args.photos)
    print("| model | content | style distance: optimizer | fast | fast / optimizer | content distance: "
          "optimizer | fast | time: optimizer | fast |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models:
        style = read_rgb(REPO / "styles" / f"{model}.jpg")
        rows, ratios = [], []
        for name, image in content.items():
            started = time.perf_counter()
            slow = optimizer.stylize(image, [style], size_px=args.size, iterations=args.iterations).image
            slow_s = time.perf_counter() - started
            fast = stylize_fast(image, model, size_px=args.size)
            target = fast.image
            s_slow, s_fast = style_distance(slow, style), style_distance(target, style)
            c_slow, c_fast = content_distance(slow, image), content_distance(target, image)
            ratios.append(s_fast / s_slow)
            print(f"| {model} | {name} | {s_slow:.3f} | {s_fast:.3f} | {s_fast / s_slow:.2f} | {c_slow:.3f} | "
                  f"{c_fast:.3f} | {slow_s:.1f} s | {fast.elapsed_s:.2f} s |", flush=True)
            if "local only" not in name:
                rows.append([image, slow, target])
        print(f"| {model} | geometric mean of fast / optimizer | | | {np.exp(np.mean(np.log(ratios))):.2f} | | | | |")
        (REPO / "docs" / "images").mkdir(parents=True, exist_ok=True)
        contact_sheet(rows, f"{model}: content | optimizer ({args.iterations} it/scale) | fast model",
                      REPO / "docs" / "images" / f"fast_{model}.jpg")


if __name__ == "__main__":
    main()
