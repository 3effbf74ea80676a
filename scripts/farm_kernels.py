"""How far a strict farm chain moves when one chunk runs on a node with other CPU kernels.

Renders a shot (the occluder scene of scripts/temporal_evidence.py), stylizes it on one machine, then as a strict
chain of chunks twice: every chunk with this machine's kernels, and every other chunk with oneDNN limited to another
instruction set (`ONEDNN_MAX_CPU_ISA`, read when torch loads, so each chunk is its own `python -m engine sequence`
process, as a farm task is). Prints, per frame, the PSNR against the one-machine frame, and the warping error of
the pair across each chunk border next to the one-machine run's, plus the warning the chain printed.
Usage: python scripts/farm_kernels.py [--frames 12] [--chunk 6] [--size 160] [--iterations 60] [--other-isa AVX2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from farm_evidence import chunk_ranges, shot_frames  # noqa: E402

from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import warping_errors  # noqa: E402
from engine.measures.reference import psnr_db  # noqa: E402
from engine.shots.chunks import Chunk, chunk_frames  # noqa: E402
from engine.shots.temporal import frame_motion  # noqa: E402

STYLE = REPO / "styles" / "starry_night.jpg"


def sequence(renders: Path, out: Path, args, chunk: str | None = None, isa: str | None = None) -> str:
    """One `python -m engine sequence` process (one farm task); its stderr."""
    command = [sys.executable, "-m", "engine", "sequence", "--frames", str(renders / "*.png"), "--passes",
               str(renders / "*.exr"), "--output-dir", str(out), "--style", str(STYLE), "--size", str(args.size),
               "--iterations", str(args.iterations), "--scales", "2", "--device", "cpu"]
    env = dict(os.environ)
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    done = subprocess.run(command + (["--chunk", chunk] if chunk else []), cwd=REPO, env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--chunk", type=int, default=6, help="frames per chunk")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--other-isa", default="AVX2", help="ONEDNN_MAX_CPU_ISA of every other chunk")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "farm_kernels")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    from temporal_evidence import render_occluder_scene

    renders = args.out / "render"
    render_occluder_scene(renders, frames=args.frames, width=256, height=144)
    shot = shot_frames(renders)
    pngs, numbers = [frame.content for frame in shot], [frame.number for frame in shot]
    ranges = chunk_ranges(shot, args.chunk)
    runs = {name: args.out / name for name in ("one_machine", "same_kernels", "other_kernels")}
    for folder in runs.values():
        folder.mkdir()
    sequence(renders, runs["one_machine"], args)
    warnings = ""
    for position, (first, last) in enumerate(ranges):
        sequence(renders, runs["same_kernels"], args, f"{first}-{last}")
        warnings += sequence(renders, runs["other_kernels"], args, f"{first}-{last}",
                             args.other_isa if position % 2 else None)

    frames = chunk_frames(shot, Chunk(numbers[0], numbers[-1]), renders)
    motions = [frame_motion(later, earlier, None, None, "vectors", {}) for earlier, later in zip(frames, frames[1:])]
    images = {name: [read_rgb(folder / p.name) for p in pngs] for name, folder in runs.items()}
    errors = {name: warping_errors(frames_of_run, motions) for name, frames_of_run in images.items()}
    borders = [numbers.index(first) for first, _ in ranges[1:]]  # index of the later frame of each border pair
    print(f"{len(pngs)} frames, {args.size} px, {args.iterations} iterations, chunks "
          f"{', '.join(f'{a}-{b}' for a, b in ranges)}; every other chunk with ONEDNN_MAX_CPU_ISA={args.other_isa}\n")
    print("| frame | chunk kernels | PSNR same kernels (dB) | PSNR other kernels (dB) |\n|---|---|---|---|")
    for index, number in enumerate(numbers):
        position = next(i for i, (a, b) in enumerate(ranges) if a <= number <= b)
        same, other = (psnr_db(images[name][index], images["one_machine"][index])
                       for name in ("same_kernels", "other_kernels"))
        print(f"| {number} | {args.other_isa if position % 2 else 'own'} | {same:.1f} | {other:.1f} |")
    print("\n| border pair | warping error, one machine | same kernels | other kernels | other pairs, one machine "
          "(mean) | other pairs, other kernels (mean) |\n|---|---|---|---|---|---|")
    inside = [i for i in range(len(motions)) if i + 1 not in borders]
    for later in borders:
        print(f"| {numbers[later - 1]}-{numbers[later]} | {errors['one_machine'][later - 1]:.4f} | "
              f"{errors['same_kernels'][later - 1]:.4f} | {errors['other_kernels'][later - 1]:.4f} | "
              f"{np.mean([errors['one_machine'][i] for i in inside]):.4f} | "
              f"{np.mean([errors['other_kernels'][i] for i in inside]):.4f} |")
    lines = sorted({line for line in warnings.splitlines() if line.startswith("warning:")})
    print("\nwarnings from the chain:", "\n".join(lines) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
