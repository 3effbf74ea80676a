"""What the subcommands share: the device, cache and progress options, the optimizer's options, the progress bar
and warnings, and the frame files a folder or pattern names.

Defaults are not written here: the optimizer's come from `engine.optimizer.options.StylizeOptions`' fields, the engine's
(device, loss network, pooling, precision) from `StyleTransfer`'s keyword arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

from protocol import PRESERVE_COLORS
from protocol.numbers import FRACTION, ITERATIONS, PIXELS, SCALES, SEED, WEIGHT, number

from ..runtime.errors import EngineError

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def keyword_defaults(function) -> dict:
    """A function's (or class's) keyword arguments' defaults by name."""
    import inspect

    return {name: parameter.default for name, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty}


def engine_defaults() -> dict:
    """The optimization engine's own settings' defaults by name (device, weights, pooling, cache_dir, precision)."""
    from ..stylize import StyleTransfer

    return keyword_defaults(StyleTransfer)


def add_device_option(p) -> None:
    device = engine_defaults()["device"]
    p.add_argument("--device", default=device, help=f"auto, cpu, cuda or mps (default {device})")


def add_cache_options(p, cached: str = "style-target") -> None:
    """--cache-dir and --no-cache for the cache of `cached` (style targets, or the any-style network's vectors)."""
    p.add_argument("--cache-dir", help=f"{cached} cache folder (default: the per-user cache folder)")
    p.add_argument("--no-cache", action="store_true", help=f"do not read or write the {cached} cache")


def add_overwrite_option(p) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing files this engine did not write (default: refuse them; its own results "
                        "are replaced)")


def add_quiet_option(p) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_optimizer_options(p) -> None:
    """Options shared by every optimization command (one image or a sequence)."""
    from ..optimizer.losses import STYLE_LOSSES
    from ..optimizer.options import COLD_ITERATIONS, OPTIMIZERS, WARM_ITERATIONS, option_defaults

    options, engine = option_defaults(), engine_defaults()
    p.add_argument("--style", action="append", help="style image; repeat to blend styles")
    p.add_argument("--style-weights", type=WEIGHT, nargs="+", metavar="W", help="blend weight per --style")
    p.add_argument("--size", type=PIXELS, default=None,
                   help=f"longest side of the output in pixels, 16 or more (default {options['size_px']})")
    p.add_argument("--iterations", type=ITERATIONS, default=options["iterations"],
                   help=f"optimizer iterations per scale (default {COLD_ITERATIONS} from the content or noise, "
                        f"{WARM_ITERATIONS} from the any-style start)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=options["optimizer"])
    p.add_argument("--scales", type=SCALES, default=options["scales"],
                   help="coarse-to-fine scales, 1-16; 1 = single scale (default: auto)")
    p.add_argument("--seed", type=SEED, default=options["seed"])
    p.add_argument("--strength", type=FRACTION, default=options["style_strength"],
                   help=f"style strength in [0, 1] (default {options['style_strength']:g})")
    p.add_argument("--preserve-color", choices=PRESERVE_COLORS, default=options["preserve_color"])
    p.add_argument("--region-style", action="append", metavar="ID=PATH|keep",
                   help="style image for one region (object index), or 'keep' to leave it unchanged")
    p.add_argument("--region-strength", action="append", metavar="ID=S", help="style strength for one region")
    p.add_argument("--weights", default=engine["weights"],
                   help="loss network: 'caffe' (original VGG-19, offline), 'torchvision', or a weights file")
    p.add_argument("--pooling", choices=("max", "avg"), default=engine["pooling"])
    p.add_argument("--style-loss", choices=STYLE_LOSSES, default=options["style_loss"])
    p.add_argument("--content-weight", type=WEIGHT, default=options["content_weight"])
    p.add_argument("--style-weight", type=WEIGHT, default=options["style_weight"],
                   help=f"style loss weight (default {options['style_weight']:g})")
    p.add_argument("--tv-weight", type=WEIGHT, default=options["tv_weight"],
                   help="total variation (smoothness) weight")
    p.add_argument("--content-layers", nargs="+", metavar="LAYER")
    p.add_argument("--style-layers", nargs="+", metavar="LAYER")
    p.add_argument("--style-layer-weights", type=WEIGHT, nargs="+", metavar="W",
                   help="weight per style layer: more on relu1_1/relu2_1 gives fine strokes, relu4_1/relu5_1 coarse")
    p.add_argument("--style-scale", type=number(above=0.0, maximum=64.0), default=options["style_scale"],
                   help="size of the style relative to the output (above 0, up to 64)")
    add_device_option(p)
    add_precision_option(p)
    p.add_argument("--memory-budget", type=number(above=0.0), default=options["memory_budget_gb"], metavar="GB",
                   help="memory the job may use on its device; larger scales run as tiles to stay under it "
                        "(default: most of the free GPU memory or RAM)")
    p.add_argument("--fallback", choices=("none", "classic"),
                   default="classic" if options["allow_classic_fallback"] else "none",
                   help="when even the CPU runs out of memory: 'classic' writes a colour-transfer and "
                        "edge-preserving filter instead of failing (default none)")
    p.add_argument("--structure", type=FRACTION, default=0.0, metavar="S",
                   help="keep shapes legible, 0-1: hold the colour steps across the render's object, depth and "
                        "normal boundaries (needs the render's passes; default 0, off; the add-on uses 0.5)")
    add_cache_options(p)
    add_quiet_option(p)


def optimizer_options(args) -> dict:
    """Keyword arguments of `StyleTransfer.stylize` from the shared options."""
    from ..optimizer.options import option_defaults
    from ..optimizer.vgg import check_layers

    defaults = option_defaults()
    content_layers = args.content_layers or list(defaults["content_layers"])
    style_layers = args.style_layers or list(defaults["style_layers"])
    check_layers(content_layers + style_layers)
    return dict(style_blend=args.style_weights, size_px=args.size or defaults["size_px"], iterations=args.iterations,
                scales=args.scales, optimizer=args.optimizer, seed=args.seed, style_strength=args.strength,
                preserve_color=args.preserve_color, content_weight=args.content_weight, tv_weight=args.tv_weight,
                content_layers=content_layers, style_layers=style_layers,
                style_layer_weights=args.style_layer_weights, style_loss=args.style_loss,
                style_weight=args.style_weight, style_scale=args.style_scale, precision=args.precision,
                tile_px=getattr(args, "tile", None), memory_budget_gb=args.memory_budget,
                allow_classic_fallback=args.fallback == "classic")


def add_precision_option(p) -> None:
    from ..optimizer.options import PRECISIONS

    default = engine_defaults()["precision"]
    p.add_argument("--precision", choices=PRECISIONS, default=default,
                   help=f"loss network arithmetic (default {default}: bf16 where the device runs it natively, CUDA "
                        "with bf16, CPUs with AMX, MPS on macOS 14+; else fp32). The settings record "
                        "what ran")


def style_transfer(args):
    """The optimization engine for the device, loss network and cache the options name."""
    from ..runtime.cache import chosen_cache_dir
    from ..stylize import StyleTransfer

    return StyleTransfer(device=args.device, weights=args.weights, pooling=args.pooling,
                         cache_dir=chosen_cache_dir(args.cache_dir, args.no_cache), precision=args.precision)


def progress_bar(args):
    """A per-mille progress bar on stderr, or None with --quiet."""
    from tqdm import tqdm

    return None if args.quiet else tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")


def warn(notices, bar) -> None:
    """Print what the job had to give up (out-of-memory retries, fallbacks) as warnings on stderr."""
    for notice in notices:
        line = f"warning: {notice}"
        if bar is not None:
            bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)


def frame_files(spec: str, what: str, exr_only: bool = False) -> list[Path]:
    """Files of a sequence from a folder or a glob pattern, in name order.

    From a folder: its pictures (PNG, JPEG, TIFF), or its EXRs when it has no pictures or `exr_only` is set.
    """
    import glob

    folder = Path(spec)
    if folder.is_dir():
        exrs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".exr")
        pictures = sorted(p for p in folder.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES)
        files = exrs if exr_only or not pictures else pictures
    else:
        files = sorted(Path(p) for p in glob.glob(spec))
    if not files:
        raise EngineError(f"no {what} found at '{spec}'; give a folder of images or a pattern like 'render/*.png'")
    return files
