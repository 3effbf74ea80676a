"""The `python -m engine` command line: subcommands, progress bars, and one-line errors.

Every bad input exits with status 2 and a message naming the problem; no output is written then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import Cancelled, EngineError
from .fast.commands import add_models_parser, add_train_parser

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes in one line (plus the usage hint) with our exit status."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see '{self.prog} --help')\n")


def _region_pairs(values, option: str) -> dict[int, str]:
    pairs = {}
    for value in values or []:
        region, sep, setting = value.partition("=")
        if not sep or not region.strip().lstrip("-").isdigit() or not setting:
            raise EngineError(f"{option} '{value}' is not ID=VALUE (for example {option} 2=keep)")
        pairs[int(region)] = setting
    return pairs


def _add_stylize(subparsers) -> None:
    p = subparsers.add_parser("stylize", help="stylize one image by optimization",
                              description="Stylize an image with one or more paintings (Gatys-style optimization).")
    p.add_argument("--content", required=True, help="content image (PNG, JPEG, TIFF, EXR)")
    p.add_argument("--style", action="append", help="style image; repeat to blend styles")
    p.add_argument("--model", help="fast stylization instead: a model name (see 'python -m engine models') or a "
                                   ".safetensors file; --size, --strength, --preserve-color and --mask apply")
    p.add_argument("--tile", type=int, default=None, metavar="PX",
                   help="with --model: tile images larger than PX on a side (default 2048 on the CPU, 4096 on a GPU)")
    p.add_argument("--style-weights", type=float, nargs="+", metavar="W", help="blend weight per --style")
    p.add_argument("--output", required=True, help="output image (.png, .jpg, .tif or .exr)")
    p.add_argument("--size", type=int, default=None,
                   help="longest side of the output in pixels (default 512; with --model, the content's size)")
    p.add_argument("--iterations", type=int, default=300, help="optimizer iterations per scale (default 300)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--scales", type=int, default=None, help="coarse-to-fine scales; 1 = single scale (default: auto)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strength", type=float, default=1.0, help="style strength in [0, 1] (default 1)")
    p.add_argument("--preserve-color", choices=("none", "luminance", "histogram"), default="none")
    p.add_argument("--mask", help="label map: region ids per pixel (PNG/EXR) or soft masks (.npy, R x H x W)")
    p.add_argument("--region-style", action="append", metavar="ID=PATH|keep",
                   help="style image (with --model: a model) for one region of --mask, or 'keep' to leave it unchanged")
    p.add_argument("--region-strength", action="append", metavar="ID=S", help="style strength for one region")
    p.add_argument("--init", default="content", help="start from 'content', 'noise' or an image path")
    p.add_argument("--weights", default="caffe",
                   help="loss network: 'caffe' (original VGG-19, offline), 'torchvision', or a weights file")
    p.add_argument("--pooling", choices=("max", "avg"), default="max")
    p.add_argument("--style-loss", choices=("gram", "mean_cov"), default="gram")
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, default=30.0, help="style loss weight (default 30)")
    p.add_argument("--tv-weight", type=float, default=10.0, help="total variation (smoothness) weight")
    p.add_argument("--content-layers", nargs="+", metavar="LAYER")
    p.add_argument("--style-layers", nargs="+", metavar="LAYER")
    p.add_argument("--style-layer-weights", type=float, nargs="+", metavar="W",
                   help="weight per style layer: more on relu1_1/relu2_1 gives fine strokes, relu4_1/relu5_1 coarse")
    p.add_argument("--style-scale", type=float, default=1.0, help="size of the style relative to the output")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    p.add_argument("--save-every", type=int, default=0, metavar="N",
                   help="also save the image every N iterations as OUTPUT_STEM.sSCALE-iITER.png")
    p.add_argument("--cache-dir", default="default", help="style-target cache folder")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the style-target cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_stylize)


def _run_stylize(args) -> int:
    from tqdm import tqdm

    from .imageio import check_output_path, read_label_map, read_rgb, write_image
    from .masks import RegionStyle
    from .stylize import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, StyleTransfer
    from .vgg import check_layers

    if args.model:
        from .fast.commands import stylize_with_model

        return stylize_with_model(args, _region_pairs)
    if not args.style:
        raise EngineError("give --style (optimization) or --model (fast stylization)")
    output = check_output_path(args.output)
    content = read_rgb(args.content, "content image")
    styles = [read_rgb(path, "style image") for path in args.style]
    content_layers = args.content_layers or list(DEFAULT_CONTENT_LAYERS)
    style_layers = args.style_layers or list(DEFAULT_STYLE_LAYERS)
    check_layers(content_layers + style_layers)
    init = args.init if args.init in ("content", "noise") else read_rgb(args.init, "init image")
    label_map, regions = None, {}
    region_styles = _region_pairs(args.region_style, "--region-style")
    region_strengths = _region_pairs(args.region_strength, "--region-strength")
    if (region_styles or region_strengths) and not args.mask:
        raise EngineError("--region-style and --region-strength need --mask")
    if args.mask:
        label_map = read_label_map(args.mask)
        for region, setting in region_styles.items():
            regions[region] = (RegionStyle(keep_original=True) if setting == "keep"
                               else RegionStyle(styles=[read_rgb(setting, f"style image for region {region}")]))
        for region, value in region_strengths.items():
            try:
                strength = float(value)
            except ValueError:
                raise EngineError(f"--region-strength {region}={value}: the strength must be a number") from None
            regions.setdefault(region, RegionStyle()).strength = strength

    engine = StyleTransfer(device=args.device, weights=args.weights, pooling=args.pooling,
                           cache_dir=None if args.no_cache else args.cache_dir)
    bar = None if args.quiet else tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

    def on_progress(progress):
        if bar is not None:
            bar.set_description(f"scale {progress.scale}/{progress.scales} ({progress.width_px}x{progress.height_px})"
                                f" it {progress.iteration}/{progress.iterations}")
            bar.set_postfix_str(f"loss {progress.loss:.4g}")
            bar.update(round(progress.fraction_done * 1000) - bar.n)
        if args.save_every and progress.iteration % args.save_every == 0:
            snapshot = output.with_name(f"{output.stem}.s{progress.scale}-i{progress.iteration:05d}.png")
            write_image(snapshot, progress.image())

    options = dict(style_blend=args.style_weights, size_px=args.size or 512, iterations=args.iterations,
                   scales=args.scales, optimizer=args.optimizer, init=init, seed=args.seed,
                   style_strength=args.strength, preserve_color=args.preserve_color,
                   content_weight=args.content_weight, tv_weight=args.tv_weight,
                   content_layers=content_layers, style_layers=style_layers,
                   style_layer_weights=args.style_layer_weights, style_loss=args.style_loss,
                   style_weight=args.style_weight, style_scale=args.style_scale, label_map=label_map,
                   regions=regions or None)
    try:
        result = engine.stylize(content, styles, callback=on_progress, **options)
    finally:
        if bar is not None:
            bar.close()
    settings = dict(result.settings, content=str(Path(args.content).resolve()),
                    styles=[str(Path(s).resolve()) for s in args.style], mask=args.mask,
                    region_style=region_styles or None, region_strength=region_strengths or None,
                    command="python -m engine " + " ".join(sys.argv[1:]))
    write_image(output, result.image, settings)
    if not args.quiet:
        print(f"wrote {output} ({result.settings['width_px']}x{result.settings['height_px']}, "
              f"{result.elapsed_s:.1f} s on {result.settings['device']}, "
              f"style cache {result.cache_hits} hit(s), {result.cache_misses} miss(es))")
    return 0


def _add_worker(subparsers) -> None:
    p = subparsers.add_parser("worker", help="serve jobs as line-delimited JSON on stdin/stdout (for the add-on)")
    p.set_defaults(run=_run_worker)


def _run_worker(args) -> int:
    from .worker import main as worker_main

    return worker_main()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine", description="Neural style transfer engine (PyTorch).")
    parser.add_argument("--version", action="version", version=f"nst-engine {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_stylize(subparsers)
    add_train_parser(subparsers)
    add_models_parser(subparsers)
    _add_worker(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return args.run(args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (Cancelled, KeyboardInterrupt):
        print("cancelled; no output written", file=sys.stderr)
        return EXIT_CANCELLED
    except MemoryError:
        print("error: out of memory; use a smaller --size", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            print("error: out of GPU memory; use a smaller --size, or --device cpu", file=sys.stderr)
            return EXIT_BAD_INPUT
        raise
