"""On-disk cache of style targets (per-layer statistics of a style image), so later frames and runs skip them.

Keys hash the style's exact pixels at the size used, the loss network and the statistics' settings. An entry read
from disk is used only when it fits: the engine version that wrote it, the statistics and shapes asked for, float32,
finite values. One that does not is a miss, with a warning, and is computed again.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .. import __version__
from ..imageio.images import atomic_path

Shapes = dict[str, dict[str, tuple[int, ...]]]  # {layer: {statistic: shape}} an entry must have, no more, no less


class CacheFolder(enum.Enum):
    """Where a cache keeps its files when no folder is named."""

    USER = "user"  # the per-user cache folder (default_cache_dir)


USER_CACHE = CacheFolder.USER
ENGINE_VERSION_KEY = "nst-engine"  # an entry's metadata: the engine version that wrote it
CacheDir = Path | str | CacheFolder | None  # a folder, USER_CACHE, or None for memory only


def chosen_cache_dir(folder: Path | str | None, no_cache: bool = False) -> CacheDir:
    """The cache a command line or request asks for: none with `no_cache`, else `folder`, else the per-user one."""
    if no_cache:
        return None
    return USER_CACHE if folder is None else folder


def user_cache_root() -> Path:
    """The engine's per-user cache folder: $XDG_CACHE_HOME/nst-blender, else ~/.cache/nst-blender."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nst-blender"


def default_cache_dir() -> Path:
    return user_cache_root() / "style-targets"


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

    def get(self, key: str, device: torch.device, shapes: Shapes) -> dict[str, dict[str, torch.Tensor]] | None:
        """The targets stored under `key`, on `device`, or None (a miss): an entry on disk that does not fit
        `shapes` (or is damaged, or from another engine version) is removed with a warning and counts as a miss."""
        if key in self.memory:
            self.hits += 1
            return self.memory[key]
        path = self._file(key)
        if path is not None and path.is_file():
            targets, problem = _read_entry(path, shapes)
            if problem is None:
                targets = {layer: {stat: t.to(device) for stat, t in stats.items()} for layer, stats in targets.items()}
                self.memory[key] = targets
                self.hits += 1
                return targets
            print(f"warning: style cache entry {path} {problem}; computing it again", file=sys.stderr)
            path.unlink(missing_ok=True)
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
                save_file(flat, str(temp), metadata={ENGINE_VERSION_KEY: __version__})
        except Exception:  # noqa: BLE001 - a cache that cannot be written only costs time
            pass


def _read_entry(path: Path, shapes: Shapes) -> tuple[dict[str, dict[str, torch.Tensor]], str | None]:
    """An entry's targets and None, or what is wrong with it (the reason a warning gives)."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as entry:
            version = (entry.metadata() or {}).get(ENGINE_VERSION_KEY)
            flat = {name: entry.get_tensor(name) for name in entry.keys()}
    except Exception as exc:  # noqa: BLE001 - a damaged cache entry is recomputed, never fatal
        return {}, f"cannot be read ({exc.__class__.__name__})"
    if version != __version__:
        return {}, f"was written by engine version {version or 'unknown'}, not {__version__}"
    wanted = {f"{layer}/{stat}": shape for layer, stats in shapes.items() for stat, shape in stats.items()}
    if set(flat) != set(wanted):
        return {}, f"holds {', '.join(sorted(flat)) or 'nothing'}, not {', '.join(sorted(wanted))}"
    for name, tensor in flat.items():
        if tuple(tensor.shape) != tuple(wanted[name]):
            return {}, f"has {name} of shape {tuple(tensor.shape)}, not {tuple(wanted[name])}"
        if tensor.dtype != torch.float32:
            return {}, f"has {name} as {tensor.dtype}, not float32"
        if not torch.isfinite(tensor).all():
            return {}, f"has NaN or infinite values in {name}"
    targets: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in flat.items():
        layer, stat = name.split("/")
        targets.setdefault(layer, {})[stat] = tensor
    return targets, None
