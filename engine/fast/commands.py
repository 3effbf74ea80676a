"""Fast stylization on the command line: `train`, `models`, and `stylize --model`.

`engine/cli.py` registers these; errors are `EngineError`s, which it prints as one line with exit status 2.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from protocol.numbers import ITERATIONS, PIXELS, SEED, WEIGHT, number, whole

from ..errors import EngineError
from .train import TrainSettings


def add_train_parser(subparsers) -> None:
    defaults = TrainSettings()
    p = subparsers.add_parser(
        "train", help="train a fast-stylization model on content images or a shot's renders",
        description="Train a feed-forward style network (Johnson et al. 2016) with the VGG-19 perceptual loss. "
                    "With --keyframes, learn one shot instead: stylize that many keyframes by optimization and "
                    "train a network (with render passes as --guides) to reproduce them on every frame.")
    p.add_argument("--style", required=True, help="style image (the painting)")
    p.add_argument("--content-dir", required=True, nargs="+", metavar="DIR",
                   help="folders of content images or renders (PNG, JPEG, EXR); in per-shot mode, the shot's frames")
    p.add_argument("--output", required=True, help="model file to write (.safetensors)")
    p.add_argument("--steps", type=whole(1, 10_000_000), default=defaults.steps,
                   help=f"training steps (default {defaults.steps})")
    p.add_argument("--batch-size", type=whole(1, 1024), default=defaults.batch_size)
    p.add_argument("--crop", type=PIXELS, default=defaults.crop_px, dest="crop_px",
                   help=f"side of the random training crops in pixels (default {defaults.crop_px})")
    p.add_argument("--variant", choices=("small", "johnson"), default=defaults.variant,
                   help="network size: small (1.7 MB, default) or johnson (the paper's, 6.7 MB)")
    p.add_argument("--learning-rate", type=number(above=0.0, maximum=1.0), default=defaults.learning_rate)
    p.add_argument("--content-weight", type=WEIGHT, default=defaults.content_weight)
    p.add_argument("--style-weight", type=WEIGHT, default=defaults.style_weight)
    p.add_argument("--tv-weight", type=WEIGHT, default=defaults.tv_weight)
    p.add_argument("--content-layers", nargs="+", metavar="LAYER", default=list(defaults.content_layers))
    p.add_argument("--style-layers", nargs="+", metavar="LAYER", default=list(defaults.style_layers))
    p.add_argument("--style-size", type=PIXELS, default=defaults.style_size_px, dest="style_size_px",
                   help="longest side of the style image for its statistics; larger gives finer strokes")
    p.add_argument("--weights", default=defaults.weights, help="loss network: caffe (default), torchvision or a file")
    p.add_argument("--seed", type=SEED, default=defaults.seed)
    p.add_argument("--keyframes", type=whole(0, 100_000), default=0,
                   help="per-shot mode: stylize this many keyframes first (default 0: train on the content folders)")
    p.add_argument("--guides", nargs="+", default=[], metavar="PASS",
                   help="per-shot mode: EXR render passes fed to the network, e.g. Normal UV 'Object Index'")
    p.add_argument("--keyframe-size", type=PIXELS, default=defaults.keyframe_size_px, dest="keyframe_size_px")
    p.add_argument("--keyframe-iterations", type=ITERATIONS, default=defaults.keyframe_iterations)
    p.add_argument("--checkpoint-every", type=whole(0), default=200, metavar="N",
                   help="save OUTPUT.ckpt.safetensors every N steps (0: never)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT.ckpt.safetensors")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train)


def run_train(args) -> int:
    from tqdm import tqdm

    from .model_file import read_model_info
    from .train import train_shot, train_style

    output = Path(args.output)
    if output.suffix != ".safetensors":
        raise EngineError(f"--output {output} must end in .safetensors")
    if not output.parent.is_dir():
        raise EngineError(f"output folder {output.parent} does not exist; create it first")
    if args.guides and not args.keyframes:
        raise EngineError("--guides are for per-shot training; give --keyframes N too")
    names = ("steps", "batch_size", "crop_px", "variant", "learning_rate", "content_weight", "style_weight",
             "tv_weight", "content_layers", "style_layers", "style_size_px", "weights", "seed", "guides",
             "keyframes", "keyframe_size_px", "keyframe_iterations")
    settings = TrainSettings(**{name: getattr(args, name) for name in names})
    settings.content_layers, settings.style_layers = tuple(settings.content_layers), tuple(settings.style_layers)
    settings.guides = tuple(settings.guides)
    bars: dict = {}

    def on_progress(progress):
        if args.quiet:
            return
        bar = bars.get(progress.phase)
        if bar is None:
            bar = bars[progress.phase] = tqdm(total=progress.steps, initial=progress.step - 1, desc=progress.phase,
                                              unit="step" if progress.phase == "training" else "frame")
        bar.set_postfix_str(f"loss {progress.loss:.4g}")
        bar.update(progress.step - bar.n)

    command = shlex.join(["python", "-m", "engine", *args.argv])
    options = dict(device=args.device, checkpoint_every=args.checkpoint_every, resume=args.resume,
                   command=command, callback=on_progress)
    try:
        if args.keyframes:
            if len(args.content_dir) != 1:
                raise EngineError("per-shot training takes one --content-dir: the shot's frames")
            train_shot(args.style, args.content_dir[0], output, settings, **options)
        else:
            train_style(args.style, args.content_dir, output, settings, **options)
    finally:
        for bar in bars.values():
            bar.close()
    if not args.quiet:
        info = read_model_info(output)
        print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, {info.training['steps']} steps in "
              f"{info.training['time_s']:.0f} s on {info.training['device']})")
    return 0


def add_models_parser(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the bundled and user fast-stylization models",
                              description="List fast-stylization models: the bundled ones and those in the user "
                                          "models folder ($NST_MODELS_DIR to change it).")
    p.add_argument("--json", action="store_true", help="print JSON (for the add-on and scripts)")
    p.set_defaults(run=run_models)


def run_models(args) -> int:
    from ..anystyle.commands import model_entry
    from .models import list_models, user_models_dir

    entries, any_style = list_models(), model_entry()
    if args.json:
        print(json.dumps([any_style] + [{"name": e.name, "path": str(e.path), "location": e.location,
                                         "problem": e.problem, "kind": e.info.kind if e.info else None,
                                         "style": e.info.style if e.info else None,
                                         "training": e.info.training if e.info else None} for e in entries], indent=1))
        return 0
    print(f"user models folder: {user_models_dir()}")
    print(f"  {'any':20} {'package':8} " + (f"unusable: {any_style['problem']}" if any_style["problem"] else
                                           "any painting as --style, no training (Magenta, Ghiasi et al. 2017)"))
    for e in entries:
        if e.info is None:
            print(f"  {e.name:20} {e.location:8} unusable: {e.problem}")
            continue
        t = e.info.training
        guides = f", guides {' '.join(e.info.guide_channels)}" if e.info.guide_channels else ""
        print(f"  {e.name:20} {e.location:8} {e.info.kind} model of {e.info.style.get('file')}, {e.info.variant}, "
              f"{t.get('steps')} steps at {t.get('crop_px')} px, {e.path.stat().st_size / 1e6:.1f} MB{guides}")
    if not entries:
        print("  (no models; train one with 'python -m engine train')")
    return 0


def stylize_with_model(args, region_pairs) -> int:
    """`stylize --model`: read, stylize in one pass, write atomically with the settings; no optimizer options."""
    from ..alpha import read_content
    from ..imageio import check_output_path, read_label_map, write_image
    from ..masks import Region
    from .infer import stylize_fast

    if args.model == "any":  # the any-style network takes the paintings themselves
        from ..anystyle.commands import stylize_with_any

        return stylize_with_any(args, region_pairs)
    if args.style:
        raise EngineError("give either --style (optimization) or --model (fast stylization), not both; "
                          "--model any takes --style")
    output = check_output_path(args.output)
    picture = read_content(args.content)
    label_map, regions = None, {}
    region_models = region_pairs(args.region_style, "--region-style")
    region_strengths = region_pairs(args.region_strength, "--region-strength")
    if (region_models or region_strengths) and not args.mask:
        raise EngineError("--region-style and --region-strength need --mask")
    if args.mask:
        label_map = read_label_map(args.mask)
        for region, setting in region_models.items():
            regions[region] = Region(keep_original=True) if setting == "keep" else Region(model=setting)
        for region, value in region_strengths.items():
            try:
                regions.setdefault(region, Region()).strength = float(value)
            except ValueError:
                raise EngineError(f"--region-strength {region}={value}: the strength must be a number") from None
    render = args.content if Path(args.content).suffix.lower() == ".exr" else None
    result = stylize_fast(picture.rgb, args.model, size_px=args.size, style_strength=args.strength,
                          preserve_color=args.preserve_color, label_map=label_map, regions=regions or None,
                          render_path=render, tile_px=args.tile, device=args.device)
    settings = dict(result.settings, content=str(Path(args.content).resolve()), mask=args.mask,
                    region_style=region_models or None, region_strength=region_strengths or None,
                    command=shlex.join(["python", "-m", "engine", *args.argv]))
    rgb, alpha = picture.finish(result.image)
    write_image(output, rgb, settings, alpha=alpha)
    if not args.quiet:
        print(f"wrote {output} ({result.settings['width_px']}x{result.settings['height_px']}, "
              f"{result.elapsed_s:.2f} s on {result.settings['device']}, model {result.settings['model']})")
    return 0
