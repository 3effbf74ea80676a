"""Before and after for the bundled fast models: content | the model before | the model now | the painting, on
photos no training or tuning uses, with each result's style and content distance (engine.measures.metrics) under it.

`--before DIR` holds the earlier model files (e.g. from `git show REV:models/starry_night.safetensors`); the
models now are the repository's `models/`. Usage:
`python scripts/bundled_models_sheet.py --before out/old_models --sheet docs/images/bundled_before_after.jpg`
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from tuned_quality import HELD_OUT  # noqa: E402  (the photos no tuning or test uses)

from bench.sheets import caption, fit, join, save  # noqa: E402
from engine.fast.stylize_fast import stylize_fast  # noqa: E402
from engine.fast.models import BUNDLED_DIR  # noqa: E402
from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import content_distance, style_distance  # noqa: E402

PAINTINGS = ("starry_night", "shipwreck")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="folder with the earlier NAME.safetensors files")
    parser.add_argument("--sheet", type=Path, required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile", type=int, default=300, help="height of each picture on the sheet")
    args = parser.parse_args()
    rows, ratios = [], {"style": [], "content": []}
    for name in PAINTINGS:
        painting = read_rgb(REPO / "styles" / f"{name}.jpg")
        for photo in HELD_OUT:
            content = read_rgb(photo)
            cells = [caption(fit(content, args.tile), f"{photo.name}")]
            measured = {}
            for label, model in (("before", args.before / f"{name}.safetensors"),
                                 ("now", BUNDLED_DIR / f"{name}.safetensors")):
                image = stylize_fast(content, model, size_px=args.size, device="cpu").image
                style, kept = style_distance(image, painting, args.size), content_distance(image, content, args.size)
                measured[label] = (style, kept)
                cells.append(caption(fit(image, args.tile), f"{name} {label}: style {style:.3f}, content {kept:.2f}"))
            cells.append(caption(fit(painting, args.tile), "the painting"))
            rows.append(join(cells))
            for index, key in enumerate(("style", "content")):
                ratios[key].append(measured["now"][index] / measured["before"][index])
            print(f"| {photo.name} | {name} | {measured['before'][0]:.3f} | {measured['now'][0]:.3f} | "
                  f"{measured['before'][1]:.3f} | {measured['now'][1]:.3f} |")
    print(f"mean now/before: style {np.mean(ratios['style']):.2f}x, content {np.mean(ratios['content']):.2f}x")
    save(join(rows, vertical=True), args.sheet, quality=80)
    print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
