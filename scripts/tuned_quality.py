"""Tuned to a painting against `--model any`: style and content distance on photos no tuning uses, and a sheet.

Tunes the any-style network to each painting on the tuning photos (--tune-dir; by default four scikit-image
photos, copied to --out), or reads the tuned files already in --out, then stylizes the held-out photos (the shared
photos and scikit-image's motorcycle, which no test or tuning uses) with `--model any` and with the tuned model at
--size px, in the same run. Prints a markdown table: engine.measures.metrics' style distance (the painting resized to the
result's longest side, and at its default 256 px) and content distance, each tuned/any ratio, and the un-squared
Gram measure (mean over relu1_1..relu5_1 of ||G - T||_F / ||T||_F). `--sheet` writes content | any | tuned |
optimizer (a short optimizer run, `--iterations` per scale). `--compare-parts` instead tunes each choice of
`engine.anystyle.tune.PARTS` with the same small budget and prints the same figures per choice.

Usage: `python scripts/tuned_quality.py [--styles styles/starry_night.jpg ...] [--size 512] [--steps 300]
[--minutes 4.5] [--out out/tuned_quality] [--sheet docs/images/tuned_sheet.jpg] [--compare-parts]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from bench.sheets import caption, fit, join, picture, save  # noqa: E402
from engine.anystyle import AnyStyleStylizer  # noqa: E402
from engine.anystyle.tune import PARTS, TuneSettings, tune_to_painting  # noqa: E402
from engine.fast.stylize_fast import get_stylizer  # noqa: E402
from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import _prepared, content_distance, style_distance  # noqa: E402
from engine.optimizer.losses import gram_matrix  # noqa: E402
from engine.optimizer.options import DEFAULT_STYLE_LAYERS  # noqa: E402
from engine.optimizer.vgg import load_vgg19  # noqa: E402

SKIMAGE_DATA = Path(__import__("skimage").__file__).parent / "data"
TUNING_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
HELD_OUT = [REPO.parent / "shared" / "data" / "photos" / name for name in ("tubingen.jpg", "golden_gate.jpg")]
HELD_OUT.append(SKIMAGE_DATA / "motorcycle_left.png")


@torch.no_grad()
def unsquared_gram_distance(image: np.ndarray, style: np.ndarray, longest_px: int) -> float:
    """Mean over relu1_1..relu5_1 of ||G - T||_F / ||T||_F, both at `longest_px` longest side."""
    model = load_vgg19()
    features = model(_prepared(image, longest_px), DEFAULT_STYLE_LAYERS)
    targets = model(_prepared(style, longest_px), DEFAULT_STYLE_LAYERS)
    return float(np.mean([float((gram_matrix(features[layer]) - gram_matrix(targets[layer])).norm()
                                / gram_matrix(targets[layer]).norm()) for layer in DEFAULT_STYLE_LAYERS]))


def measures(image: np.ndarray, content: np.ndarray, style: np.ndarray, size: int) -> dict[str, float]:
    return {"style": style_distance(image, style, size), "style256": style_distance(image, style, 256),
            "gram": unsquared_gram_distance(image, style, size), "content": content_distance(image, content, size)}


def tuning_folder(out: Path) -> Path:
    folder = out / "tuning_photos"
    folder.mkdir(parents=True, exist_ok=True)
    for name in TUNING_PHOTOS:
        if not (folder / name).is_file():
            shutil.copy(SKIMAGE_DATA / name, folder / name)
    return folder


def tuned_model(style: Path, folder: Path, output: Path, settings: TuneSettings, retune: bool) -> float | None:
    """Tune unless the file exists (and not `retune`); the seconds it took, or None when reused."""
    if output.is_file() and not retune:
        return None
    started = time.perf_counter()
    tune_to_painting(style, [folder], output, settings, device="cpu")
    return time.perf_counter() - started


def table(rows: list[dict]) -> None:
    print("| content | painting | model | style (engine.measures.metrics, painting at result size) | style at 256 px | "
          "un-squared Gram | content |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['content']} | {row['painting']} | {row['model']} | {row['style']:.3f} | {row['style256']:.3f} | "
              f"{row['gram']:.3f} | {row['content_distance']:.3f} |")
    baseline = [r for r in rows if r["model"] == "any"]
    for model in dict.fromkeys(r["model"] for r in rows if r["model"] != "any"):
        tuned = [r for r in rows if r["model"] == model]
        for key, name in (("style", "style"), ("style256", "style at 256 px"), ("gram", "un-squared Gram"),
                          ("content_distance", "content")):
            ours, theirs = np.mean([r[key] for r in tuned]), np.mean([r[key] for r in baseline])
            print(f"- {model}: mean {name} {ours:.3f} against any {theirs:.3f}: **{ours / theirs:.2f}x**")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--styles", nargs="+", type=Path, default=[REPO / "styles" / "starry_night.jpg",
                                                                   REPO / "styles" / "shipwreck.jpg"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=TuneSettings.steps)
    parser.add_argument("--minutes", type=float, default=TuneSettings.minutes, help="tuning budget; 0: steps only")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(TuneSettings.sizes_px),
                        help="result sizes the tuning draws from")
    parser.add_argument("--learning-rate", type=float, default=TuneSettings.learning_rate)
    parser.add_argument("--content-weight", type=float, default=TuneSettings.content_weight)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "tuned_quality")
    parser.add_argument("--retune", action="store_true", help="tune again even where a tuned file exists")
    parser.add_argument("--compare-parts", action="store_true")
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--iterations", type=int, default=40, help="optimizer iterations per scale on the sheet")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = tuning_folder(args.out)
    contents = {path.stem: read_rgb(path, "content") for path in HELD_OUT if path.is_file()}
    any_style = AnyStyleStylizer("cpu", cache_dir=None)
    parts = PARTS if args.compare_parts else (TuneSettings.part,)
    rows, images = [], {}
    for style_path in args.styles:
        style = read_rgb(style_path, "style")
        models = {}
        for part in parts:
            settings = TuneSettings(steps=args.steps, minutes=args.minutes or None, part=part, sizes_px=tuple(args.sizes),
                                    learning_rate=args.learning_rate, content_weight=args.content_weight)
            label = f"tuned ({part})" if args.compare_parts else "tuned"
            output = args.out / f"{style_path.stem}_{part}_{args.steps}steps_lr{args.learning_rate:g}_cw{args.content_weight:g}.safetensors"
            seconds = tuned_model(style_path, folder, output, settings, args.retune)
            took = "reused" if seconds is None else f"tuned in {seconds:.0f} s"
            load = " ".join(f"{value:.2f}" for value in os.getloadavg())
            print(f"{label} {style_path.stem}: {output.name}, {took} (load average {load})", flush=True)
            models[label] = get_stylizer(str(output), "cpu")
        for name, content in contents.items():
            results = {"any": any_style.stylize(content, [style], size_px=args.size).image}
            results |= {label: model.stylize(content, size_px=args.size).image for label, model in models.items()}
            for label, image in results.items():
                figures = measures(image, content, style, args.size)
                rows.append({"content": name, "painting": style_path.stem, "model": label,
                             **{k: v for k, v in figures.items() if k != "content"},
                             "content_distance": figures["content"]})
                images[(name, style_path.stem, label)] = image
    table(rows)
    if args.sheet:
        write_sheet(args, contents, images)


def write_sheet(args, contents: dict, images: dict) -> None:
    """content | any | tuned | optimizer, one row per held-out photo and painting."""
    from engine.stylize import StyleTransfer

    optimizer = StyleTransfer(device="cpu")
    tile = 300
    rows = []
    for style_path in args.styles:
        style = read_rgb(style_path, "style")
        for name, content in contents.items():
            optimized = optimizer.stylize(content, [style], size_px=args.size, iterations=args.iterations).image
            cells = [(content, name), (images[(name, style_path.stem, "any")], "any"),
                     (images[(name, style_path.stem, "tuned")], f"tuned to {style_path.stem}"),
                     (optimized, f"optimizer ({args.iterations} it./scale)")]
            rows.append(join([caption(fit(picture(image), tile), label) for image, label in cells]))
    save(join(rows, vertical=True), args.sheet, quality=75)
    print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
