"""Time to quality: style and content distance (engine.measures.metrics) against wall time, for the old quality default
(--precision fp32 --init content, the default schedule) and warm-started configurations (auto precision, --init any,
shorter schedules), in one process and one run, with the load average before and after each configuration.

Each configuration's curve comes from one run: the image is taken every --every iterations (the copy is not timed)
and measured after the run. The final row of each configuration is the stylize call's own wall time.

Usage: python scripts/quality_speed.py [--size 256] [--photo PATH] [--style PATH] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.imageio.images import read_rgb  # noqa: E402
from engine.measures.metrics import content_distance, style_distance  # noqa: E402
from engine.stylize import StyleTransfer  # noqa: E402

DATA = REPO.parent / "shared" / "data"  # test data, not part of the project
# name: stylize settings. The first is the baseline the others are judged against.
CONFIGS = {
    "old default (fp32, init content, 300 it/scale, auto scales)": dict(precision="fp32", init="content"),
    "auto precision, init content": dict(precision="auto", init="content"),
    "auto, init any, 100 it, 1 scale": dict(precision="auto", init="any", iterations=100, scales=1),
    "auto, init any, 150 it, 1 scale": dict(precision="auto", init="any", iterations=150, scales=1),
    "auto, init any, 100 it/scale, 2 scales": dict(precision="auto", init="any", iterations=100, scales=2),
    "auto, init any, its default schedule (130 it/scale, auto scales)": dict(precision="auto", init="any"),
    "auto, init any, 160 it/scale, auto scales": dict(precision="auto", init="any", iterations=160),
}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def run(engine: StyleTransfer, content: np.ndarray, style: np.ndarray, size: int, every: int, settings: dict):
    """One stylize call: (final result, [(seconds since the call, image)] every `every` iterations)."""
    snapshots: list[tuple[float, np.ndarray]] = []
    paused = [0.0]
    started = time.perf_counter()

    def on_progress(progress):
        if progress.scale == progress.scales and progress.iteration % every == 0:
            copying = time.perf_counter()
            snapshots.append((copying - started - paused[0], progress.image().copy()))
            paused[0] += time.perf_counter() - copying

    result = engine.stylize(content, [style], size_px=size, seed=0, callback=on_progress, **settings)
    wall = time.perf_counter() - started - paused[0]
    return result, wall, snapshots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--photo", default=str(DATA / "photos" / "golden_gate.jpg"), help="no test uses it")
    parser.add_argument("--style", default=str(DATA / "styles" / "starry_night.jpg"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=int, default=25, help="curve point every N iterations (last scale)")
    parser.add_argument("--only", nargs="+", type=int, help="run only these configurations (0-based; 0 always)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    content, style = read_rgb(args.photo, "photo"), read_rgb(args.style, "style")
    engine = StyleTransfer(device="cpu", cache_dir=None)
    chosen = [name for i, name in enumerate(CONFIGS) if args.only is None or i == 0 or i in args.only]
    engine.stylize(content, [style], size_px=64, scales=1, iterations=2, precision="fp32")  # warm up both paths
    engine.stylize(content, [style], size_px=64, scales=1, iterations=2, precision="auto", init="any")
    print(f"# {Path(args.photo).name} x {Path(args.style).name} at {args.size} px, {args.threads} threads, "
          f"CPU {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}")
    rows = []
    for name in chosen:
        before = os.getloadavg()[0]
        result, wall, snapshots = run(engine, content, style, args.size, args.every, CONFIGS[name])
        after = os.getloadavg()[0]
        curve = [(t, style_distance(image, style), content_distance(image, content)) for t, image in snapshots]
        final = (wall, style_distance(result.image, style), content_distance(result.image, content))
        rows.append((name, result.settings["precision"], result.settings["init"], final, curve, before, after))
        print(f"{name}: {final[0]:.1f} s, style {final[1]:.4f}, content {final[2]:.4f}, load {before:.2f} / "
              f"{after:.2f}", file=sys.stderr, flush=True)
    base = rows[0][3]
    print("\n| configuration | ran | time s | × time | style distance | × style | content distance | × content "
          "| load before/after |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for name, precision, init, (wall, s, c), _, before, after in rows:
        print(f"| {name} | {precision}, init {init} | {wall:.1f} | {wall / base[0]:.2f} | {s:.4f} | "
              f"{s / base[1]:.3f} | {c:.4f} | {c / base[2]:.3f} | {before:.2f} / {after:.2f} |")
    print("\n## Curves (last scale; seconds since the call, style distance, content distance)")
    for name, _, _, _, curve, _, _ in rows:
        print(f"- {name}: " + "; ".join(f"{t:.1f} s {s:.4f} {c:.4f}" for t, s, c in curve))
    print(f"\nload average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
