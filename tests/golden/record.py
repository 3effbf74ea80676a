"""The golden cases and their recorder: tiny CPU float32 jobs driven through the `python -m engine` command line.

tests/test_golden.py runs every case in CASES and compares its pictures with tests/golden/expected/ by PSNR and SSIM
(docs/golden.md says what is recorded and why the thresholds are what they are).

Record (or measure run-to-run noise) into a folder, with the engine of any checkout:
    .venv/bin/python tests/golden/record.py --out /tmp/golden_a [--engine-root /tmp/golden_base] [--threads 2]
After a deliberate change to the pictures, re-record in place, in a commit of its own that says why:
    .venv/bin/python tests/golden/record.py --update
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent
REPO = GOLDEN.parents[1]
INPUTS = GOLDEN / "inputs"
EXPECTED = GOLDEN / "expected"

CPU_FP32 = ("--device", "cpu", "--precision", "fp32", "--no-cache", "--quiet", "--seed", "0")
QUALITY = (*CPU_FP32, "--size", "64", "--iterations", "6", "--scales", "1")
FAST = ("--device", "cpu", "--quiet")  # fast models run at the content's own size unless asked
TEXTURE = ("--device", "cpu", "--precision", "fp32", "--no-cache", "--quiet", "--seed", "0", "--iterations", "10", "--scales", "1")


@dataclass(frozen=True)
class GoldenCase:
    """One command line. `{in}` stands for the inputs folder, `{out}` for the output: a file, or a folder when
    `folder` is set (a sequence's frames); `{golden}` for the folder with the golden outputs of the cases before it."""

    name: str
    argv: tuple[str, ...]
    folder: bool = False

    @property
    def output_name(self) -> str:
        return self.name if self.folder else f"{self.name}.png"

    def command(self, inputs: Path, output: Path, golden: Path) -> list[str]:
        return [arg.replace("{in}", str(inputs)).replace("{out}", str(output)).replace("{golden}", str(golden))
                for arg in self.argv]


CASES = (
    GoldenCase("stylize_plain", ("stylize", "--content", "{in}/content.png", "--style", "{in}/starry.png",
                                 "--output", "{out}", *QUALITY)),
    GoldenCase("stylize_regions", ("stylize", "--content", "{in}/content.png", "--style", "{in}/starry.png",
                                   "--mask", "{in}/labels.png", "--region-style", "1={in}/shipwreck.png",
                                   "--region-style", "2=keep", "--output", "{out}", *QUALITY)),
    GoldenCase("stylize_preserve_colour", ("stylize", "--content", "{in}/content.png", "--style", "{in}/starry.png",
                                           "--preserve-color", "luminance", "--output", "{out}", *QUALITY)),
    GoldenCase("fast_starry_night", ("stylize", "--content", "{in}/content.png", "--model", "starry_night",
                                     "--output", "{out}", "--size", "96", *FAST)),
    GoldenCase("fast_alpha", ("stylize", "--content", "{in}/content_alpha.png", "--model", "starry_night",
                              "--output", "{out}", *FAST)),
    GoldenCase("fast_any_style", ("stylize", "--content", "{in}/content.png", "--model", "any",
                                  "--style", "{in}/starry.png", "--output", "{out}", "--size", "96", *FAST)),
    GoldenCase("sequence_temporal", ("sequence", "--frames", "{in}/shot", "--passes", "{in}/shot",
                                     "--style", "{in}/starry.png", "--output-dir", "{out}", *QUALITY), folder=True),
    # Frames 1-2 as a farm chunk continuing the golden frame 0: the temporal steps alone, without the 1/255 steps of
    # a different frame 0 (which the optimizer amplifies about 30 times; see docs/golden.md).
    GoldenCase("sequence_temporal_chunk", ("sequence", "--frames", "{in}/shot", "--passes", "{in}/shot",
                                           "--chunk", "1-2", "--resume-from", "{golden}/sequence_temporal",
                                           "--style", "{in}/starry.png", "--output-dir", "{out}", *QUALITY),
               folder=True),
    GoldenCase("sequence_fast", ("sequence", "--frames", "{in}/shot", "--passes", "{in}/shot",
                                 "--model", "starry_night", "--output-dir", "{out}", *FAST), folder=True),
    GoldenCase("texture_flat", ("texture", "--texture", "{in}/texture.png", "--style", "{in}/starry.png",
                                "--output", "{out}", *TEXTURE)),
    GoldenCase("texture_seamless", ("texture", "--texture", "{in}/texture.png", "--style", "{in}/starry.png",
                                    "--seamless", "--output", "{out}", *TEXTURE)),
)


MODELS_DIR_ENV = "NST_MODELS_DIR"  # the user models folder; an empty one, so '--model starry_night' is the bundled model


def run_case(case: GoldenCase, output: Path, golden: Path = EXPECTED, inputs: Path = INPUTS,
             fresh_process: bool = False, engine_root: Path = REPO) -> None:
    """Run one case's command into `output` (a file, or a folder made for it), in this process by default."""
    import torch

    if case.folder:
        output.mkdir(parents=True)
    argv = case.command(inputs, output, golden)
    with tempfile.TemporaryDirectory() as models_dir:
        if fresh_process:
            env = {**os.environ, MODELS_DIR_ENV: models_dir, "OMP_NUM_THREADS": str(torch.get_num_threads())}
            status = subprocess.run([sys.executable, "-m", "engine", *argv], cwd=engine_root, env=env,
                                    stdout=subprocess.DEVNULL).returncode
        else:
            from engine.cli import main

            previous = os.environ.get(MODELS_DIR_ENV)
            os.environ[MODELS_DIR_ENV] = models_dir
            try:
                status = main(argv)
            finally:
                if previous is None:
                    del os.environ[MODELS_DIR_ENV]
                else:
                    os.environ[MODELS_DIR_ENV] = previous
    if status != 0:
        raise RuntimeError(f"golden case {case.name} failed with status {status}: python -m engine {' '.join(argv)}")


def strip_metadata(folder: Path) -> None:
    """Rewrite every PNG under `folder` with its pixels only (the settings chunk names this machine's paths)."""
    from PIL import Image

    for path in folder.rglob("*.png"):
        with Image.open(path) as image:
            image.load()
            pixels = image.copy()
        pixels.save(path)


def write_inputs(folder: Path = INPUTS) -> None:
    """Draw the cases' inputs (committed with the goldens): content (opaque, and with a transparent surround), label
    map, small styles, a 3-frame shot with its passes, and a tileable texture."""
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(REPO / "tests"))
    from support import STYLES, draw_content, write_synthetic_sequence

    folder.mkdir(parents=True, exist_ok=True)
    content = draw_content(96, 72)
    Image.fromarray((content * 255).round().astype(np.uint8)).save(folder / "content.png")
    ys, xs = np.mgrid[0:72, 0:96]
    alpha = np.clip(30.0 - np.hypot(xs - 48, ys - 36), 0.0, 1.0)  # an opaque disc with an anti-aliased edge
    rgba = np.concatenate([content, alpha[..., None]], axis=-1)
    Image.fromarray((rgba * 255).round().astype(np.uint8), mode="RGBA").save(folder / "content_alpha.png")
    labels = np.zeros((72, 96), np.uint8)
    labels[24:48, 32:56] = 1  # the house: its own style
    labels[52:, :] = 2  # the foot of the hill: kept as it is
    Image.fromarray(labels, mode="L").save(folder / "labels.png")
    for name, painting in (("starry", "starry_night.jpg"), ("shipwreck", "shipwreck.jpg")):
        with Image.open(STYLES / painting) as style:
            style.convert("RGB").resize((96, round(96 * style.height / style.width)), Image.LANCZOS).save(
                folder / f"{name}.png")
    shot = folder / "shot"
    if shot.exists():
        shutil.rmtree(shot)
    write_synthetic_sequence(shot, frames=3)
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float32) * (2 * np.pi / 64)
    tile = np.stack([0.5 + 0.3 * np.sin(2 * xs) * np.cos(ys), 0.45 + 0.25 * np.cos(xs + 3 * ys),
                     0.4 + 0.2 * np.sin(4 * ys)], axis=-1)  # periodic in 64 px: tileable
    Image.fromarray((tile * 255).round().astype(np.uint8)).save(folder / "texture.png")


def record(out: Path, cases=CASES, fresh_process: bool = False, engine_root: Path = REPO) -> None:
    """Run `cases` into `out` (replacing what is there for them) and keep only the pixels."""
    out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        target = out / case.output_name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        run_case(case, target, golden=out, fresh_process=fresh_process, engine_root=engine_root)
        print(f"recorded {case.name}", flush=True)
    strip_metadata(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="folder for the recorded pictures")
    where.add_argument("--update", action="store_true", help=f"re-record the goldens in place ({EXPECTED})")
    parser.add_argument("--engine-root", type=Path, default=REPO,
                        help="checkout whose engine runs the cases (default: this one)")
    parser.add_argument("--cases", nargs="+", choices=[c.name for c in CASES], help="only these cases")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as tests/test_golden.py)")
    parser.add_argument("--fresh-process", action="store_true", help="each case in its own 'python -m engine'")
    parser.add_argument("--write-inputs", action="store_true", help=f"draw the inputs in {INPUTS} again first")
    args = parser.parse_args()
    engine_root = args.engine_root.resolve()
    sys.path.insert(0, str(engine_root))
    import engine
    import torch

    torch.set_num_threads(args.threads)
    print(f"engine: {engine.__file__}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    if not Path(engine.__file__).resolve().is_relative_to(engine_root):
        raise SystemExit(f"the engine was imported from {engine.__file__}, not from {engine_root}")
    if args.write_inputs:
        write_inputs()
    cases = [c for c in CASES if not args.cases or c.name in args.cases]
    record(EXPECTED if args.update else args.out, cases, args.fresh_process, engine_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
