"""Quality evidence: contact sheets (content | style | ours | reference) and a sheet of the colour/strength controls.

Reads the test photos from ../shared/data (they may not ship with the project) and writes JPEG sheets plus a
markdown table of style and content distances. Usage: python scripts/contact_sheets.py [--size 512] [--iterations 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.sheets import caption, fit, join, save  # noqa: E402
from engine.imageio.images import read_rgb, read_settings, write_image  # noqa: E402
from engine.measures.metrics import content_distance, style_distance  # noqa: E402
from engine.stylize import StyleTransfer  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
PAIRS = [  # (content photo, style painting, published neural-style result or None)
    ("tubingen.jpg", "starry_night.jpg", "tubingen_starry_neural-style_512.png"),
    ("golden_gate.jpg", "starry_night.jpg", "golden_gate_starry_neural-style.png"),
    ("tubingen.jpg", "shipwreck.jpg", None),
    ("golden_gate.jpg", "woman-with-hat-matisse.jpg", None),
]


def panel(image: np.ndarray, label: str, height: int):
    """The image scaled to `height` with a caption strip above it."""
    return caption(fit(image, height), label)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=200, help="L-BFGS iterations per scale")
    parser.add_argument("--pairs", type=int, default=len(PAIRS), help="how many of the content/style pairs")
    parser.add_argument("--out", default=str(REPO / "out" / "sheets"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--reuse", action="store_true", help="rebuild the sheets from results already in --out")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"error: test data not found at {SHARED}; this script needs the shared test photos", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    engine = StyleTransfer(device=args.device)
    rows = []
    for content_name, style_name, reference_name in PAIRS[: args.pairs]:
        content = read_rgb(SHARED / "photos" / content_name)
        style = read_rgb(SHARED / "styles" / style_name)
        stem = f"{Path(content_name).stem}_{Path(style_name).stem}_{args.size}"
        started = time.perf_counter()
        if args.reuse and (out / f"{stem}.png").exists():
            image, settings = read_rgb(out / f"{stem}.png"), read_settings(out / f"{stem}.png")
        else:
            result = engine.stylize(content, [style], size_px=args.size, iterations=args.iterations)
            image, settings = result.image, dict(result.settings, seconds=round(time.perf_counter() - started, 1))
            write_image(out / f"{stem}.png", image, settings)
        scales = len(settings["scale_sizes_px"])
        panels = [panel(content, "content", args.size * 3 // 4), panel(style, "style", args.size * 3 // 4),
                  panel(image, f"ours (L-BFGS, {scales} scales x {settings['iterations']} it.)", args.size * 3 // 4)]
        row = {"pair": stem, "device": settings["device"],
               "ours_style": style_distance(image, style), "ours_content": content_distance(image, content)}
        if reference_name:
            reference = read_rgb(SHARED / "reference" / reference_name)
            panels.append(panel(reference, "neural-style (1000 it.)", args.size * 3 // 4))
            row.update(reference_style=style_distance(reference, style),
                       reference_content=content_distance(reference, content))
        save(join(panels), out / f"{stem}_sheet.jpg")
        rows.append(row)
        print(json.dumps(row), flush=True)
    controls(engine, out, args.reuse)
    lines = ["| pair | device | style distance: ours | neural-style | content distance: ours | neural-style |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ref_s = f"{r['reference_style']:.3f}" if "reference_style" in r else "-"
        ref_c = f"{r['reference_content']:.3f}" if "reference_content" in r else "-"
        lines.append(f"| {r['pair']} | {r['device']} | {r['ours_style']:.3f} | {ref_s} | "
                     f"{r['ours_content']:.3f} | {ref_c} |")
    (out / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def controls(engine: StyleTransfer, out: Path, reuse: bool) -> None:
    """One content, one style, each control in turn, at 256 px."""
    if reuse and (out / "controls_sheet.jpg").exists():
        return
    content = read_rgb(SHARED / "photos" / "golden_gate.jpg")
    starry = read_rgb(SHARED / "styles" / "starry_night.jpg")
    shipwreck = read_rgb(SHARED / "styles" / "shipwreck.jpg")
    quick = dict(size_px=256, iterations=120)
    variants = [
        ("style only", dict()),
        ("preserve colour: luminance", dict(preserve_color="luminance")),
        ("preserve colour: histogram", dict(preserve_color="histogram")),
        ("strength 0.5", dict(style_strength=0.5)),
        ("blend 50/50 with Turner", dict(extra_style=shipwreck, style_blend=[0.5, 0.5])),
    ]
    panels = [panel(content, "content", 192)]
    for label, options in variants:
        styles = [starry] + ([options.pop("extra_style")] if "extra_style" in options else [])
        panels.append(panel(engine.stylize(content, styles, **quick, **options).image, label, 192))
    save(join(panels), out / "controls_sheet.jpg")


if __name__ == "__main__":
    sys.exit(main())
