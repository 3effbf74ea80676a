"""The `python -m engine` command line: `build_parser` gathers the subcommands (one module each in this package),
`main` runs one and turns a bad input into one line on stderr with exit status 2.

Every bad input exits with status 2 and a message naming the problem; no output is written then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protocol import OverwritesInput, guard_job_inputs

from .. import __version__
from ..runtime.errors import Cancelled, EngineError
from .metrics import add_metrics_parser
from .sequence import add_join_parser, add_sequence_parser
from .sheet import add_sheet_parser
from .stylize import add_stylize_parser
from .texture import add_texture_parser
from .train import add_models_parser, add_train_parser
from .worker import add_worker_parser

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports mistakes in one line (plus the usage hint) with our exit status."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see '{self.prog} --help')\n")


def spec_files(spec: str) -> list[str]:
    """What a path option names: a file, a folder and the files in it, or the files a pattern matches."""
    import glob

    if Path(spec).is_dir():
        return [spec, *(str(p) for p in Path(spec).iterdir())]
    return glob.glob(spec) or [spec]


def refuse_overwriting(args) -> None:
    """Before any work: no output of the command (--output, --output-dir's frames, --plot, --curves) is an input."""
    from protocol import refuse_input_folder, refuse_overwrite, refuse_overwrite_all

    from ..imageio.images import refuse_replacing, with_sidecar
    from ..optimizer.options import INITS

    value = lambda name: getattr(args, name, None)  # noqa: E731
    inputs = {f"--{name.replace('_', '-')}": [value(name)] if isinstance(value(name), str) else value(name)
              for name in ("content", "style", "mask", "texture", "uv_mask")}
    inputs["--content-dir"] = [f for folder in value("content_dir") or [] for f in spec_files(folder)]
    init, model, weights = value("init"), value("model"), value("weights")
    inputs["--init"] = [init] if init is not None and init not in INITS else []
    inputs["--model"] = [model] if model and Path(model).is_file() else []
    inputs["--weights"] = [weights] if weights and Path(weights).is_file() else []
    inputs["--region-style"] = [v.partition("=")[2] for v in value("region_style") or []]
    for name in ("passes", "views", "render", "frames", "style_dir", "reference"):
        inputs[f"--{name}"] = spec_files(value(name)) if value(name) else []
    inputs["--sequence"] = [f for spec in value("sequence") or [] for f in spec_files(spec.partition("=")[2])]
    # every file written later (snapshots, sidecars, cache, checkpoints) is checked too
    guard_job_inputs(inputs, replace_others=bool(value("overwrite")))
    for name in ("output", "plot", "curves"):
        if value(name):
            refuse_overwrite(value(name), inputs, f"--{name}")
            for written in with_sidecar(value(name)):
                refuse_replacing(written, f"--{name}")
    if value("output_dir") and value("frames"):
        output_dir = Path(value("output_dir"))
        refuse_input_folder(output_dir, {"--frames": inputs["--frames"], "--passes": inputs["--passes"]},
                            "--output-dir")
        refuse_overwrite_all([output_dir / f"{Path(f).stem}.png" for f in inputs["--frames"]], inputs,
                             "--output-dir's frame")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m engine", description="Neural style transfer engine (PyTorch).")
    parser.add_argument("--version", action="version", version=f"nst-engine {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    add_stylize_parser(subparsers)
    add_sequence_parser(subparsers)
    add_join_parser(subparsers)
    add_metrics_parser(subparsers)
    add_texture_parser(subparsers)
    add_train_parser(subparsers)
    add_models_parser(subparsers)
    add_sheet_parser(subparsers)
    add_worker_parser(subparsers)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)  # the parsers import the engine's modules (torch): seconds
    except SystemExit as exc:  # --help, --version, or a usage error already printed in one line
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print("cancelled; no output written", file=sys.stderr)
        return EXIT_CANCELLED
    args.argv = sys.argv[1:] if argv is None else list(argv)
    try:
        refuse_overwriting(args)
        return args.run(args)
    except (EngineError, OverwritesInput) as exc:
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
    finally:
        guard_job_inputs({})  # the command's inputs guard its own writes only
