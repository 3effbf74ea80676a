"""`python -m engine train` (a fast-stylization network, on content images or one shot's keyframes) and `models`
(the bundled and user networks, and the any-style network).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from protocol.numbers import ITERATIONS, PIXELS, SEED, WEIGHT, number, whole

from ..anystyle.tune import PARTS, TuneSettings, tune_to_painting
from ..fast.train import TrainSettings, train_style
from ..optimizer.region_settings import ANY_STYLE_MODEL
from ..runtime.errors import EngineError
from .shared import add_device_option, add_overwrite_option, add_quiet_option, keyword_defaults


def add_train_parser(subparsers) -> None:
    defaults, tune = TrainSettings(), TuneSettings()
    p = subparsers.add_parser(
        "train", help="train a fast-stylization model on content images or a shot's renders",
        description="Train a feed-forward style network (Johnson et al. 2016) with the VGG-19 perceptual loss. "
                    "With --keyframes, learn one shot instead: stylize that many keyframes by optimization and "
                    "train a network (with render passes as --guides) to reproduce them on every frame.")
    p.add_argument("--from", dest="start", choices=("scratch", "any"), default="scratch",
                   help="any: tune the any-style network to the painting (minutes; --steps, --minutes, --part, "
                        "--sizes apply) instead of training a network from scratch (hours)")
    p.add_argument("--style", required=True, help="style image (the painting)")
    p.add_argument("--content-dir", required=True, nargs="+", metavar="DIR",
                   help="folders of content images or renders (PNG, JPEG, EXR); in per-shot mode, the shot's frames")
    p.add_argument("--output", required=True, help="model file to write (.safetensors)")
    p.add_argument("--steps", type=whole(1, 10_000_000),
                   help=f"training steps (default {defaults.steps}; tuning: {tune.steps}, within --minutes)")
    p.add_argument("--minutes", type=number(above=0.0, maximum=10_000.0), default=tune.minutes,
                   help=f"--from any: stop when this many minutes are spent (default {tune.minutes})")
    p.add_argument("--part", choices=PARTS, default=tune.part,
                   help=f"--from any: what is tuned besides the style vector (default {tune.part}: the conditional-"
                        "norm projections; all: the whole transformer; vector: the vector alone)")
    p.add_argument("--sizes", type=PIXELS, nargs="+", metavar="PX",
                   help="--from any: result sizes (longest side) to tune at, the painting resized to each "
                        f"(default {' '.join(map(str, tune.sizes_px))}; with --keyframes, the frames' own)")
    p.add_argument("--batch-size", type=whole(1, 1024), default=defaults.batch_size)
    p.add_argument("--crop", type=PIXELS, default=defaults.crop_px, dest="crop_px",
                   help=f"side of the random training crops in pixels (default {defaults.crop_px})")
    p.add_argument("--variant", choices=("small", "johnson"), default=defaults.variant,
                   help="network size: small (1.7 MB, default) or johnson (the paper's, 6.7 MB)")
    p.add_argument("--learning-rate", type=number(above=0.0, maximum=1.0), default=defaults.learning_rate)
    p.add_argument("--content-weight", type=WEIGHT,
                   help=f"default {defaults.content_weight:g}; tuning: {tune.content_weight:g}")
    p.add_argument("--style-weight", type=WEIGHT, default=defaults.style_weight)
    p.add_argument("--tv-weight", type=WEIGHT, default=defaults.tv_weight)
    p.add_argument("--content-layers", nargs="+", metavar="LAYER", default=list(defaults.content_layers))
    p.add_argument("--style-layers", nargs="+", metavar="LAYER", default=list(defaults.style_layers))
    p.add_argument("--style-size", type=PIXELS, default=defaults.style_size_px, dest="style_size_px",
                   help="longest side of the style image for its statistics; larger gives finer strokes")
    p.add_argument("--weights", default=defaults.weights, help="loss network: caffe (default), torchvision or a file")
    p.add_argument("--seed", type=SEED, default=defaults.seed)
    p.add_argument("--keyframes", type=whole(0, 100_000), default=defaults.keyframes,
                   help="per-shot mode: stylize this many keyframes first (default 0: train on the content folders); "
                        "--from any: tune on this many of the shot's frames")
    p.add_argument("--guides", nargs="+", default=list(defaults.guides), metavar="PASS",
                   help="per-shot mode: EXR render passes fed to the network, e.g. Normal UV 'Object Index'")
    p.add_argument("--keyframe-size", type=PIXELS, default=defaults.keyframe_size_px, dest="keyframe_size_px")
    p.add_argument("--keyframe-iterations", type=ITERATIONS, default=defaults.keyframe_iterations)
    p.add_argument("--checkpoint-every", type=whole(0), metavar="N",
                   help=f"save OUTPUT.ckpt.safetensors every N steps (0: never; default "
                        f"{keyword_defaults(train_style)['checkpoint_every']}, tuning "
                        f"{keyword_defaults(tune_to_painting)['checkpoint_every']})")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT.ckpt.safetensors")
    add_device_option(p)
    add_quiet_option(p)
    add_overwrite_option(p)
    p.set_defaults(run=run_train)


def run_train(args) -> int:
    from tqdm import tqdm

    from ..fast.model_file import read_model_info
    from ..fast.train import train_shot, train_style

    output = Path(args.output)
    if output.suffix != ".safetensors":
        raise EngineError(f"--output {output} must end in .safetensors")
    if not output.parent.is_dir():
        raise EngineError(f"output folder {output.parent} does not exist; create it first")
    if args.start == "any":
        return run_tune(args, output)
    args.steps = args.steps or TrainSettings.steps
    args.content_weight = TrainSettings.content_weight if args.content_weight is None else args.content_weight
    if args.checkpoint_every is None:
        args.checkpoint_every = keyword_defaults(train_style)["checkpoint_every"]
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


def run_tune(args, output: Path) -> int:
    """`train --from any`: tune the any-style network to the painting, with a progress bar and its ETA."""
    from tqdm import tqdm

    if args.guides:
        raise EngineError("--guides are for per-shot training from scratch; tuning reads the frames' colours only")
    sizes = args.sizes or (() if args.keyframes else TuneSettings.sizes_px)
    content_weight = TuneSettings.content_weight if args.content_weight is None else args.content_weight
    settings = TuneSettings(steps=args.steps or TuneSettings.steps, minutes=args.minutes, part=args.part,
                            sizes_px=tuple(sizes), crop_px=args.crop_px, seed=args.seed, weights=args.weights,
                            learning_rate=args.learning_rate, content_weight=content_weight,
                            keyframes=args.keyframes)
    bar = None

    def on_progress(progress):
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            bar = tqdm(total=progress.steps, initial=progress.step - 1, desc="tuning", unit="step")
        done = max(progress.step / progress.steps, progress.elapsed_s / (settings.minutes * 60))
        eta = progress.elapsed_s / max(done, 1e-6) * (1 - min(done, 1.0))  # whichever budget ends first
        bar.set_postfix_str(f"loss {progress.loss:.4g}, ETA {eta:.0f} s")
        bar.update(progress.step - bar.n)

    command = shlex.join(["python", "-m", "engine", *args.argv])
    try:
        every = keyword_defaults(tune_to_painting)["checkpoint_every"] if args.checkpoint_every is None \
            else args.checkpoint_every
        info = tune_to_painting(args.style, args.content_dir, output, settings, device=args.device,
                                checkpoint_every=every, resume=args.resume, command=command,
                                callback=on_progress)
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        t = info.training
        print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, any-style tuned to {info.style['file']}: "
              f"{t['steps']} steps in {t['time_s']:.0f} s on {t['device']}, loss {t['first_loss']:.3g} -> "
              f"{t['last_loss']:.3g})")
    return 0


def add_models_parser(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the bundled and user fast-stylization models",
                              description="List fast-stylization models: the bundled ones and those in the user "
                                          "models folder ($NST_MODELS_DIR to change it).")
    p.add_argument("--json", action="store_true", help="print JSON (for the add-on and scripts)")
    p.set_defaults(run=run_models)


def run_models(args) -> int:
    from ..fast.model_file import TUNED_KIND
    from ..fast.models import list_models, user_models_dir

    entries, any_style = list_models(), any_style_entry()
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
        if e.info.kind == TUNED_KIND:
            print(f"  {e.name:20} {e.location:8} any-style tuned to {e.info.style.get('file')}, {t.get('steps')} steps "
                  f"({t.get('part')}) at {' '.join(map(str, t.get('sizes_px', [])))} px, "
                  f"{e.path.stat().st_size / 1e6:.1f} MB, engine {e.info.engine_version}")
            continue
        guides = f", guides {' '.join(e.info.guide_channels)}" if e.info.guide_channels else ""
        print(f"  {e.name:20} {e.location:8} {e.info.kind} model of {e.info.style.get('file')}, {e.info.variant}, "
              f"{t.get('steps')} steps at {t.get('crop_px')} px, {e.path.stat().st_size / 1e6:.1f} MB{guides}")
    if not entries:
        print("  (no models; train one with 'python -m engine train')")
    return 0


def any_style_entry() -> dict:
    """The `models` listing's entry for the any-style network (its weights' problem, if they are unusable)."""
    from ..anystyle.weights import TRANSFORM_FILE, load_networks, weights_dir

    problem, path = None, None
    try:
        path = weights_dir() / TRANSFORM_FILE
        load_networks()
    except EngineError as exc:
        problem = str(exc)
    return {"name": ANY_STYLE_MODEL, "path": str(path) if path else None, "location": "package", "problem": problem,
            "kind": "any-style", "style": None, "training": None}
