"""Choosing the compute device: CUDA first, then Apple's MPS, then the CPU.

`cpu_capabilities` says what this CPU runs natively, with bf16's measured speed where the flags alone cannot tell.
`describe_device` reports what was picked so outputs and the add-on can say where the work ran; `describe_kernels`
names what decides the last bits of a result (the torch build, the vector instructions or GPU, the thread count),
which every output records so a farm can tell when frames of one shot came from different kernels.
"""

from __future__ import annotations

import json
import os
import platform
import time
from functools import lru_cache
from pathlib import Path

import torch

from .errors import EngineError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def resolve_device(choice: str = "auto") -> torch.device:
    if choice not in DEVICE_CHOICES and not choice.startswith("cuda:"):
        raise EngineError(f"unknown device '{choice}'; use one of {', '.join(DEVICE_CHOICES)}")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("device 'cuda' was asked for but this torch sees no CUDA GPU; use --device auto or cpu, "
                          "or install a CUDA build of torch and an NVIDIA driver")
    if choice == "mps" and not torch.backends.mps.is_available():
        raise EngineError("device 'mps' was asked for but this torch has no Apple MPS support; use --device auto or cpu")
    return torch.device(choice)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def describe_kernels(device: torch.device) -> str:
    """What rounds the arithmetic on `device`, in one line: equal lines give bit-for-bit equal results."""
    if device.type == "cuda":
        return f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return f"torch {torch.__version__}, MPS"
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return (f"torch {torch.__version__}, CPU {torch.backends.cpu.get_cpu_capability()}, oneDNN ISA {isa}, "
            f"{torch.get_num_threads()} threads")


BF16_PROBE_PX = 160  # the probe's input side: big enough for the convolutions to dominate, small enough for ~1 s


def cpu_capabilities() -> dict:
    """This CPU's instruction sets as torch sees them; on a CPU with AVX-512 BF16 but no AMX also `bf16_speedup`,
    measured once (`cpu_bf16_speedup`): there the flags do not say whether bf16 is faster (faster on AMD Zen 4,
    slower on Intel Cooper Lake-class Xeons, measured in docs/quality_speed.md)."""
    capabilities = dict(torch.cpu.get_capabilities()) if hasattr(torch.cpu, "get_capabilities") else {}
    if capabilities.get("avx512_bf16") and not capabilities.get("amx_bf16"):
        capabilities["bf16_speedup"] = cpu_bf16_speedup()
    return capabilities


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe_file() -> Path:
    from .cache import user_cache_root  # the cache module loads the engine's I/O; only the probe needs it

    return user_cache_root() / "bf16-probe.json"


@lru_cache(maxsize=None)
def cpu_bf16_speedup() -> float:
    """float32 time / bf16 time of a VGG-19-shaped convolution stack's forward and backward pass on this CPU, at
    this thread count. Measured once (about a second) and kept in the user cache, keyed by the CPU, torch and the
    thread count; a cache that cannot be read or written only costs the measurement again."""
    key = f"{_cpu_name()} | torch {torch.__version__} | {torch.get_num_threads()} threads"
    path = probe_file()
    try:
        known = json.loads(path.read_text())
        if isinstance(known, dict) and isinstance(known.get(key), (int, float)):
            return float(known[key])
    except (OSError, ValueError):
        known = {}
    speedup = _measure_bf16_speedup()
    try:
        from ..imageio.images import atomic_path  # the one guard of every write

        path.parent.mkdir(parents=True, exist_ok=True)
        known = {k: v for k, v in known.items() if isinstance(v, (int, float))} if isinstance(known, dict) else {}
        with atomic_path(path) as temp:
            temp.write_text(json.dumps({**known, key: round(speedup, 3), "nst-engine": "bf16 probe"}, indent=1))
    except Exception:  # noqa: BLE001 - a probe that cannot be kept is measured again next time
        pass
    return speedup


def _measure_bf16_speedup() -> float:
    widths = (64, 64, "pool", 128, 128, "pool", 256, 256, 256, 256, "pool", 512, 512, 512, 512)
    layers, channels = [], 3
    generator = torch.Generator().manual_seed(0)
    for width in widths:
        if width == "pool":
            layers.append(torch.nn.MaxPool2d(2))
            continue
        conv = torch.nn.Conv2d(channels, int(width), 3, padding=1)
        with torch.no_grad():
            conv.weight.normal_(0, (2.0 / (9 * channels)) ** 0.5, generator=generator)
        layers += [conv, torch.nn.ReLU()]
        channels = int(width)
    network = torch.nn.Sequential(*layers).to(memory_format=torch.channels_last).requires_grad_(False)
    image = torch.rand(1, 3, BF16_PROBE_PX, BF16_PROBE_PX, generator=generator).to(memory_format=torch.channels_last)

    def seconds(dtype: torch.dtype | None) -> float:
        best = float("inf")
        for _ in range(4):  # the first is a warm-up of the kernels
            x = image.clone().requires_grad_(True)
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
                network(x).float().square().mean().backward()
            best = min(best, time.perf_counter() - started)
        return best

    return seconds(None) / seconds(torch.bfloat16)
