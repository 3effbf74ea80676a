"""Choosing the compute device: CUDA first, then Apple's MPS, then the CPU.

`describe_device` reports what was picked so outputs and the add-on can say where the work ran; `describe_kernels`
names what decides the last bits of a result (the torch build, the vector instructions or GPU, the thread count),
which every output records so a farm can tell when frames of one shot came from different kernels.
"""

from __future__ import annotations

import os

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
