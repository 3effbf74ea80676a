"""Evidence for texture stylization: a textured sphere before and after from-views optimization, seen from an orbit
of views re-rendered in Blender; a tileable texture stylized flat (plain vs seamless) tiled 2 x 2; and a texture
stylized only inside Suzanne's UV islands.

Writes docs/images/texture_views.png, texture_seamless.png, texture_islands.png and out/texture/figures.json.
Usage: python scripts/texture_demo.py [--views 6] [--view-px 160] [--iterations 40] [--flat-iterations 60]
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
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import bpy  # noqa: E402 - the real Blender, as a Python module
import torch  # noqa: E402
from support_texture import painted_texture, save_png, tileable_texture  # noqa: E402

from bench.scenes import render_orbit, textured_object  # noqa: E402
from bench.sheets import caption, fit, join  # noqa: E402
from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import style_distance  # noqa: E402
from engine.stylize import StyleTransfer  # noqa: E402
from engine.textures.texture import TextureStylizer, tile_seam_ratio  # noqa: E402
from engine.textures.texture_views import read_views  # noqa: E402

STYLE = REPO / "styles" / "starry_night.jpg"
IMAGES = REPO / "docs" / "images"


def labelled_row(images: list[np.ndarray], label: str, cell_px: int) -> Image.Image:
    """The images as `cell_px` squares in a row, the label on their left."""
    return caption(join([fit(image, size=(cell_px, cell_px)) for image in images], gap_px=0), label, strip_px=160,
                   left=True)


def views_demo(args, stylizer: TextureStylizer, style: np.ndarray, out: Path) -> dict:
    texture = painted_texture(256, 128)
    scene, ob, node = textured_object(save_png(texture, out / "texture.png"), "sphere")
    exrs, pass_index = render_orbit(scene, ob, out / "before", args.views, args.view_px, samples=16)
    views = read_views(exrs, pass_index)
    started = time.perf_counter()
    result = stylizer.stylize_from_views(texture, views, [style], iterations=args.iterations)
    elapsed = time.perf_counter() - started
    node.image = bpy.data.images.load(str(save_png(result.image, out / "texture_stylized.png")))
    after = read_views(render_orbit(scene, ob, out / "after", args.views, args.view_px, samples=16)[0], pass_index)
    distances = [(style_distance(b.image, style, args.view_px, b.mask), style_distance(a.image, style, args.view_px,
                                                                                        a.mask)) for b, a in zip(views, after)]
    cell = args.view_px
    sheet = join([labelled_row([v.image for v in views], "before", cell),
                  labelled_row([v.image for v in after], "after (views)", cell),
                  labelled_row([texture, result.image], "texture", cell)], vertical=True)
    sheet.save(IMAGES / "texture_views.png")
    return dict(views=args.views, view_px=args.view_px, texture_px=list(texture.shape[1::-1]),
                iterations=args.iterations, optimize_s=round(elapsed, 1), seen_fraction=round(float(result.changed.mean()), 3),
                style_distance_before_after=[[round(b, 3), round(a, 3)] for b, a in distances])


def seamless_demo(args, stylizer: TextureStylizer, style: np.ndarray) -> dict:
    tile = tileable_texture(args.tile_px)
    plain = stylizer.stylize_flat(tile, [style], seamless=False, iterations=args.flat_iterations).image
    seamless = stylizer.stylize_flat(tile, [style], seamless=True, iterations=args.flat_iterations).image
    cell = 2 * args.tile_px
    labelled_row([np.tile(tile, (2, 2, 1)), np.tile(plain, (2, 2, 1)), np.tile(seamless, (2, 2, 1))],
                 "input | plain | seamless", cell).save(IMAGES / "texture_seamless.png")
    return dict(tile_px=args.tile_px, iterations=args.flat_iterations,
                seam_ratio={"input": round(tile_seam_ratio(tile), 3), "plain": round(tile_seam_ratio(plain), 3),
                            "seamless": round(tile_seam_ratio(seamless), 3)})


def islands_demo(args, stylizer: TextureStylizer, style: np.ndarray, out: Path) -> dict:
    from nst_addon.texture_views import write_island_mask

    texture = painted_texture(args.tile_px, args.tile_px)
    _, ob, _ = textured_object(save_png(texture, out / "monkey_texture.png"), "monkey")
    islands = read_rgb(write_island_mask(ob, args.tile_px, args.tile_px, out / "monkey_islands.png")).mean(-1) > 0.5
    result = stylizer.stylize_flat(texture, [style], uv_mask=islands, iterations=args.flat_iterations)
    cell = 2 * args.tile_px
    labelled_row([texture, np.repeat(islands[..., None], 3, -1).astype(np.float32), result.image],
                 "texture | islands | result", cell).save(IMAGES / "texture_islands.png")
    untouched = ~result.changed
    return dict(tile_px=args.tile_px, iterations=args.flat_iterations, island_fraction=round(float(islands.mean()), 3),
                changed_fraction=round(float(result.changed.mean()), 3),
                outside_identical=bool(np.array_equal(result.image[untouched], texture[untouched])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=6)
    parser.add_argument("--view-px", type=int, default=160)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--tile-px", type=int, default=128)
    parser.add_argument("--flat-iterations", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy machine)")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "texture")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    IMAGES.mkdir(parents=True, exist_ok=True)
    stylizer = TextureStylizer(StyleTransfer(device="auto", cache_dir=None))
    style = read_rgb(STYLE)
    figures = dict(device=str(stylizer.device), seamless=seamless_demo(args, stylizer, style),
                   islands=islands_demo(args, stylizer, style, args.out),
                   from_views=views_demo(args, stylizer, style, args.out))
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
