"""Benchmark of fast stylization: per-frame latency and peak memory at 512², 1920x1080 and 3840x2160, on the CPU
and on CUDA when present, against the optimizer (a 100-iteration 512 px L-BFGS run) measured in the same run.

Usage: `python scripts/bench_fast.py [--model starry_night] [--baseline-iterations 100] [--output docs/fast_benchmark.md]`.
Each measurement runs in its own process so that peak memory (ru_maxrss, or CUDA max_memory_allocated) is its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SIZES = {"512²": (512, 512), "1920×1080": (1080, 1920), "3840×2160": (2160, 3840)}


def _content(height: int, width: int):
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(REPO / "scripts"))
    from make_training_content import make_picture

    picture = make_picture(seed=12345, size_px=max(height, width)).resize((width, height), Image.BICUBIC)
    return np.asarray(picture, np.float32) / 255.0


def _peak_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def measure_fast(model: str, device: str, size: str, repeats: int) -> dict:
    import torch

    from engine.fast.infer import FastStylizer
    from engine.stylize import _to_tensor

    stylizer = FastStylizer(model, device)
    pixels = _to_tensor(_content(*SIZES[size]), torch.device("cpu"))
    idle_mb = _peak_mb(stylizer.device)
    if stylizer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    stylizer.run(pixels)  # warm-up: kernels, allocator
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        stylizer.run(pixels)
        if stylizer.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    height, width = SIZES[size]
    from engine.fast.infer import DEFAULT_TILE_PX
    tile = DEFAULT_TILE_PX.get(stylizer.device.type, DEFAULT_TILE_PX["cpu"])
    return {"ms": 1000 * sorted(times)[len(times) // 2], "peak_mb": _peak_mb(stylizer.device), "idle_mb": idle_mb,
            "tiled": max(height, width) > tile, "precision": str(stylizer.dtype).removeprefix("torch.")}


def measure_optimizer(device: str, iterations: int) -> dict:
    from engine.imageio import read_rgb
    from engine.stylize import StyleTransfer

    engine = StyleTransfer(device=device, cache_dir=None)
    style = read_rgb(REPO / "styles" / "starry_night.jpg")
    content = _content(512, 512)
    engine.stylize(content, [style], size_px=64, iterations=2, scales=1)  # warm-up
    started = time.perf_counter()
    engine.stylize(content, [style], size_px=512, iterations=iterations, scales=1)
    seconds = time.perf_counter() - started
    return {"ms": 1000 * seconds * 100 / iterations, "measured_iterations": iterations,
            "peak_mb": _peak_mb(engine.device)}


def _in_subprocess(*args) -> dict:
    result = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="starry_night")
    parser.add_argument("--baseline-iterations", type=int, default=100,
                        help="optimizer iterations actually run; the baseline is scaled to 100 iterations")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", help="also write the report to this markdown file")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, device, *rest = args.one
        result = (measure_fast(args.model, device, rest[0], args.repeats) if kind == "fast"
                  else measure_optimizer(device, int(rest[0])))
        print(json.dumps(result))
        return

    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lines = ["| device | frame | fast ms/frame | optimizer ms/frame (100 it, 512 px) | fast is × faster "
             "| fast peak memory | precision, tiles |", "|---|---|---:|---:|---:|---:|---|"]
    for device in devices:
        label = torch.cuda.get_device_name() if device == "cuda" else (platform.processor() or platform.machine())
        baseline = _in_subprocess("optimizer", device, str(args.baseline_iterations), "--model", args.model)
        print(f"{device}: optimizer {baseline['ms']:.0f} ms per 512 px frame of 100 iterations "
              f"(measured over {baseline['measured_iterations']})", file=sys.stderr)
        for size in SIZES:
            fast = _in_subprocess("fast", device, size, "--model", args.model, "--repeats", str(args.repeats))
            memory = (f"{fast['peak_mb']:.0f} MiB allocated" if device == "cuda"
                      else f"{fast['peak_mb']:.0f} MiB RSS ({fast['peak_mb'] - fast['idle_mb']:.0f} MiB over idle)")
            lines.append(f"| {device} ({label}, {torch.get_num_threads()} threads) | {size} | {fast['ms']:.0f} | "
                         f"{baseline['ms']:.0f} | {baseline['ms'] / fast['ms']:.0f} | {memory} | "
                         f"{fast['precision']}, {'tiled' if fast['tiled'] else 'one pass'} |")
            print(lines[-1], file=sys.stderr)
    header = (f"Fast stylization benchmark: model `{args.model}`, median of {args.repeats} runs after a warm-up; "
              f"the optimizer baseline ran {args.baseline_iterations} L-BFGS iterations at 512 px (one scale) and is "
              f"given per 100 iterations. Command: `python scripts/bench_fast.py "
              f"--baseline-iterations {args.baseline_iterations}`. {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"torch {torch.__version__}.")
    report = header + "\n\n" + "\n".join(lines) + "\n"
    print(report)
    if args.output:
        Path(args.output).write_text(report)


if __name__ == "__main__":
    main()
