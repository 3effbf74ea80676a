"""Benchmark: our optimizer against pastiche 1.6.0's command line, in one run on the current device.

Both run as command lines with the same size, layers (relu4_2; relu1_1..relu5_1), L-BFGS and iterations.
Milliseconds per iteration come from two runs of different lengths (their difference cancels start-up).
Prints a markdown table and writes it to docs/benchmark.md. Usage: python scripts/benchmark.py [--sizes 256 512]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.imageio import read_rgb  # noqa: E402
from engine.metrics import content_distance, style_distance  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def ours(content: Path, style: Path, output: Path, size: int, iterations: int, device: str) -> list[str]:
    return [sys.executable, "-m", "engine", "stylize", "--content", str(content), "--style", str(style),
            "--output", str(output), "--size", str(size), "--iterations", str(iterations), "--scales", "1",
            "--device", device, "--quiet", "--no-cache"]


def pastiche(content: Path, style: Path, output: Path, size: int, iterations: int, device: str) -> list[str]:
    return [sys.executable, "-m", "pastiche", "--content", str(content), "--styles", str(style),
            "--output", str(output), "--size", str(size), "--num-steps", str(iterations), "--device", device,
            "--no-verbose"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--short", type=int, default=5, help="iterations of the short run")
    parser.add_argument("--long", type=int, default=25, help="iterations of the long run")
    parser.add_argument("--output", default=str(REPO / "docs" / "benchmark.md"))
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    content_path = SHARED / "photos" / "tubingen.jpg"
    style_path = SHARED / "styles" / "starry_night.jpg"
    if not content_path.exists():
        print(f"error: test photos not found under {SHARED}", file=sys.stderr)
        return 2
    content, style = read_rgb(content_path), read_rgb(style_path)
    card = torch.cuda.get_device_name() if device == "cuda" else f"{platform.processor() or 'CPU'}, " \
                                                                 f"{torch.get_num_threads()} threads"
    lines = [f"Device: {device} ({card}); torch {torch.__version__}; L-BFGS, tubingen x starry night, "
             f"ms/iteration = (t({args.long} it) - t({args.short} it)) / {args.long - args.short}.", "",
             "| size | ours ms/it | pastiche ms/it | pastiche / ours | style dist. ours | pastiche "
             "| content dist. ours | pastiche |", "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            per_iteration, distances = {}, {}
            for name, command in (("ours", ours), ("pastiche", pastiche)):
                output = Path(tmp) / f"{name}_{size}.png"
                short = timed(command(content_path, style_path, output, size, args.short, device))
                long = timed(command(content_path, style_path, output, size, args.long, device))
                per_iteration[name] = 1000 * (long - short) / (args.long - args.short)
                result = read_rgb(output)
                distances[name] = (style_distance(result, style), content_distance(result, content))
                print(f"{name} {size}px: {per_iteration[name]:.0f} ms/it", flush=True)
            ratio = per_iteration["pastiche"] / per_iteration["ours"]
            lines.append(f"| {size} | {per_iteration['ours']:.0f} | {per_iteration['pastiche']:.0f} | {ratio:.2f}x | "
                         f"{distances['ours'][0]:.3f} | {distances['pastiche'][0]:.3f} | {distances['ours'][1]:.3f} | "
                         f"{distances['pastiche'][1]:.3f} |")
    table = "\n".join(lines) + "\n"
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("# Optimizer benchmark\n\n`python scripts/benchmark.py` (or `make bench`)\n\n" + table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
