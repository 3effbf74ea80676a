"""Test hooks in product code, all in one place: each is an environment variable, and unset it changes nothing.

- `SIMULATE_OOM_ENV` (NST_SIMULATE_OOM_ABOVE_PX=N): the primary device behaves as if it ran out of memory on any
  optimization pass (a whole scale or a tile) whose longest side exceeds N pixels. Set, the primary device also
  counts as a GPU-like tier, so the fallback to the CPU is exercised on machines without a GPU.
- `SIMULATE_CPU_OOM_ENV` (NST_SIMULATE_CPU_OOM_ABOVE_PX=N): the same for the CPU fallback.
- `PAUSE_BEFORE_REPLACE_ENV` (NST_FAULT_PAUSE_BEFORE_REPLACE=<file name>): the writer of a file of that name says
  on stderr that its temporary file is complete and sleeps a minute before putting it in place, so that a test can
  kill it mid-write (engine.imageio.images.atomic_path).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .errors import EngineError

SIMULATE_OOM_ENV = "NST_SIMULATE_OOM_ABOVE_PX"
SIMULATE_CPU_OOM_ENV = "NST_SIMULATE_CPU_OOM_ABOVE_PX"
PAUSE_BEFORE_REPLACE_ENV = "NST_FAULT_PAUSE_BEFORE_REPLACE"
PAUSE_S = 60


def simulated_oom_limit_px(cpu_fallback: bool = False) -> int | None:
    """The pass size above which a simulated out-of-memory is raised (the CPU fallback's limit with
    `cpu_fallback`), or None when the hook is not set."""
    name = SIMULATE_CPU_OOM_ENV if cpu_fallback else SIMULATE_OOM_ENV
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise EngineError(f"{name}={value!r} must be a number of pixels (it is a test hook; unset it otherwise)")
    return int(value)


def raise_simulated_oom(limit_px: int | None, height: int, width: int) -> None:
    """Raise torch's out-of-memory error when a pass of height x width is over the hook's limit."""
    import torch  # only here: writing files (pause_before_replace) needs no torch

    if limit_px is not None and max(height, width) > limit_px:
        raise torch.OutOfMemoryError(f"simulated: {width}x{height} px is over the test hook's limit of {limit_px} px")


def pause_before_replace(path: Path, temp: Path) -> None:
    """Pause a finished write of `path` (its temporary file `temp`) when the hook names that file."""
    if os.environ.get(PAUSE_BEFORE_REPLACE_ENV) == Path(path).name:
        print(f"{PAUSE_BEFORE_REPLACE_ENV}: {temp} is written, pausing before it replaces {path}", file=sys.stderr,
              flush=True)
        time.sleep(PAUSE_S)
