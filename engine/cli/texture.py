"""`python -m engine texture`: a colour texture stylized flat (seamless, inside UV islands) or through rendered
views of the object.
"""

from __future__ import annotations

from protocol.numbers import FRACTION, ITERATIONS, PIXELS, SCALES, SEED, WEIGHT, whole

from .shared import (
    add_cache_options,
    add_device_option,
    add_overwrite_option,
    add_precision_option,
    add_quiet_option,
    engine_defaults,
    frame_files,
    keyword_defaults,
    progress_bar,
    style_transfer,
)


def add_texture_parser(subparsers) -> None:
    from ..optimizer.options import option_defaults
    from ..textures.texture import ISLAND_PADDING_PX, TextureObjective, stylize_texture_files

    job, objective = keyword_defaults(stylize_texture_files), option_defaults(TextureObjective)
    p = subparsers.add_parser("texture", help="stylize a texture: flat (seamless, UV islands) or through rendered views",
                              description="Stylize a colour texture. Flat: as a picture, optionally seamless "
                                          "(wrap-around) and only inside the mesh's UV islands. From views: optimize "
                                          "the texture so that Blender renders of the object (with the UV pass) carry "
                                          "the style from every side.")
    p.add_argument("--texture", required=True, help="the colour texture (PNG, JPEG, TIFF, EXR)")
    p.add_argument("--style", action="append", required=True, help="style image; repeat to blend styles")
    p.add_argument("--style-weights", type=WEIGHT, nargs="+", metavar="W", help="blend weight per --style")
    p.add_argument("--output", required=True, help="the new texture (.png, .jpg, .tif or .exr)")
    p.add_argument("--seamless", action="store_true", help="flat: keep a tileable texture tileable (wrap-around)")
    p.add_argument("--size", type=PIXELS, help="flat: longest side of the new texture (default: the texture's own)")
    p.add_argument("--iterations", type=ITERATIONS, default=job["iterations"],
                   help="optimizer iterations (per scale in flat mode)")
    p.add_argument("--scales", type=SCALES, default=None, help="flat: coarse-to-fine scales (default: auto)")
    p.add_argument("--uv-mask", help="flat: image of the mesh's UV islands (white inside) at the texture's size; only "
                                     "the islands change")
    p.add_argument("--island-padding", type=whole(0, 4096), default=ISLAND_PADDING_PX, metavar="PX",
                   help=f"flat with --uv-mask: texels the islands bleed outward, against seams "
                        f"(default {ISLAND_PADDING_PX})")
    p.add_argument("--views", help="from-views mode: folder or pattern of Blender multilayer EXRs with the UV pass "
                                   "(a display PNG of the same name beside each is used as the picture)")
    p.add_argument("--object-index", type=whole(0),
                   help="from views: the object's pass index in the views' Object Index")
    p.add_argument("--structure", type=FRACTION, default=objective["structure"], metavar="S",
                   help="from views: keep the object's shapes legible (0-1; the add-on's Keep Shapes), from each "
                        "view's Depth pass (Object Index and Normal help); refused without views or Depth")
    p.add_argument("--strength", type=FRACTION, default=objective["style_strength"],
                   help=f"style strength in [0, 1] (default {objective['style_strength']:g})")
    p.add_argument("--content-weight", type=WEIGHT, default=objective["content_weight"])
    p.add_argument("--style-weight", type=WEIGHT, default=objective["style_weight"])
    p.add_argument("--tv-weight", type=WEIGHT, default=objective["tv_weight"])
    p.add_argument("--seed", type=SEED, default=job["seed"])
    p.add_argument("--weights", default=engine_defaults()["weights"],
                   help="loss network: 'caffe', 'torchvision', or a weights file")
    add_device_option(p)
    add_precision_option(p)
    add_cache_options(p)
    add_quiet_option(p)
    add_overwrite_option(p)
    p.set_defaults(run=run_texture, pooling=engine_defaults()["pooling"])


def run_texture(args) -> int:
    from ..textures.texture import TextureObjective, stylize_texture_files, tile_seam_ratio

    views = frame_files(args.views, "views", exr_only=True) if args.views else []
    objective = TextureObjective(args.content_weight, args.style_weight, args.tv_weight, args.strength,
                                 args.structure)
    bar = progress_bar(args)

    def on_progress(progress):
        if bar is not None:
            bar.set_description(f"scale {progress.scale}/{progress.scales} it {progress.iteration}/{progress.iterations}")
            bar.set_postfix_str(f"loss {progress.loss:.4g}")
            bar.update(round(progress.fraction_done * 1000) - bar.n)

    try:
        result = stylize_texture_files(style_transfer(args), args.texture, args.style, args.output, views=views,
                                       object_index=args.object_index, uv_mask_path=args.uv_mask,
                                       seamless=args.seamless, size_px=args.size, iterations=args.iterations,
                                       scales=args.scales, island_padding_px=args.island_padding,
                                       style_blend=args.style_weights, objective=objective, seed=args.seed,
                                       callback=on_progress)
    finally:
        if bar is not None:
            bar.close()
    detail = (f"seen texels {result.settings['seen_fraction']:.0%} from {len(views)} view(s)" if views
              else f"tile seam ratio {tile_seam_ratio(result.image):.2f}" if args.seamless else "flat")
    print(f"wrote {args.output} ({result.settings['width_px']}x{result.settings['height_px']}, {detail}, "
          f"{result.elapsed_s:.1f} s)")
    return 0


