"""On-disk cache of style targets (per-layer statistics of a style image), so later frames and runs skip them.

Keys hash the style's exact pixels at the size used, the loss network and the statistics' settings.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .imageio import atomic_path


class CacheFolder(enum.Enum):
    """Where a cache keeps its files when no folder is named."""

    USER = "user"  # the per-user cache folder (default_cache_dir)


USER_CACHE = CacheFolder.USER
CacheDir = Path | str | CacheFolder | None  # a folder, USER_CACHE, or None for memory only


def chosen_cache_dir(folder: Path | str | None, no_cache: bool = False) -> CacheDir:
    """The cache a command line or request asks for: none with `no_cache`, else `folder`, else the per-user one."""
    if no_cache:
        return None
    return USER_CACHE if folder is None else folder


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nst-blender" / "style-targets"


def style_key(pixels: torch.Tensor, settings: dict) -> str:
    """Content hash of the style tensor plus every setting that changes its statistics."""
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(str(tuple(pixels.shape)).encode())
    digest.update(pixels.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:40]


class StyleTargetCache:
    """Style statistics by key: in memory for this process, and as safetensors files in `folder` (USER_CACHE: the
    per-user folder; None: memory only)."""

    def __init__(self, folder: CacheDir):
        if folder is USER_CACHE:
            folder = default_cache_dir()
        self.folder = Path(folder) if folder else None
        self.memory: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
        self.hits = 0
        self.misses = 0

    def _file(self, key: str) -> Path | None:
        return self.folder / f"{key}.safetensors" if self.folder else None

    def get(self, key: str, device: torch.device) -> dict[str, dict[str, torch.Tensor]] | None:
        if key in self.memory:
            self.hits += 1
            return self.memory[key]
        path = self._file(key)
        if path is not None and path.is_file():
            try:
                flat = load_file(str(path), device="cpu")
            except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed, never fatal
                path.unlink(missing_ok=True)
            else:
                targets: dict[str, dict[str, torch.Tensor]] = {}
                for name, tensor in flat.items():
                    layer, stat = name.split("/")
                    targets.setdefault(layer, {})[stat] = tensor.to(device)
                self.memory[key] = targets
                self.hits += 1
                return targets
        self.misses += 1
        return None

    def put(self, key: str, targets: dict[str, dict[str, torch.Tensor]]) -> None:
        self.memory[key] = targets
        path = self._file(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            flat = {f"{layer}/{stat}": t.detach().to("cpu").contiguous()
                    for layer, stats in targets.items() for stat, t in stats.items() if stat != "cov_sqrt"}
            with atomic_path(path) as temp:
                save_file(flat, str(temp))
        except Exception:  # noqa: BLE001 - a cache that cannot be written only costs time
            pass
