"""Render passes from Blender's multilayer EXRs: Combined, Vector, Depth, Object Index, UV and Cryptomatte.

Pass names differ between Blender versions (`Object Index` vs `IndexOB`, view-layer prefixes); this module
hides that. Arrays are top-down rows, as stored in the file.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenEXR
from PIL import Image

from ..runtime.errors import EngineError
from .images import check_channel, check_file, read_exr_channels

INDEX_NAMES = ("Object Index.X", "IndexOB.X", "IndexOB")
DEPTH_NAMES = ("Depth.Z", "Z")
FAR_DEPTH = 1e10  # what Cycles writes for the world; an infinite Depth is read as this


@dataclass
class RenderPasses:
    """One frame's passes; any of them may be missing (None)."""

    path: Path
    combined: np.ndarray | None  # H x W x 3, scene-linear
    vector: np.ndarray | None  # H x W x 4: X, Y (to previous frame), Z, W (negated, to next frame); y up
    depth: np.ndarray | None  # H x W
    object_index: np.ndarray | None  # H x W, int
    cryptomatte: dict[str, np.ndarray] | None  # object name -> coverage H x W
    uv: np.ndarray | None = None  # H x W x 3: U, V (v up, as in Blender) and A (coverage of the UV'd surface)

    @property
    def shape(self) -> tuple[int, int]:
        for array in (self.combined, self.vector, self.depth, self.object_index):
            if array is not None:
                return array.shape[:2]
        raise EngineError(f"{self.path} has none of the Combined, Vector, Depth or Object Index passes")

    def object_coverage(self) -> np.ndarray | None:
        """Soft per-object masks, (max pass index + 1) x H x W, from Cryptomatte coverage (anti-aliased edges).

        Each Cryptomatte object is matched to its pass index by where it covers most; pixels no object covers
        (the world) go to index 0. None without both Cryptomatte and Object Index passes.
        """
        if not self.cryptomatte or self.object_index is None:
            return None
        coverage = np.zeros((int(self.object_index.max()) + 1, *self.object_index.shape), np.float32)
        for amount in self.cryptomatte.values():
            solid = amount > 0.5
            if not solid.any():
                continue
            pass_index = int(np.bincount(self.object_index[solid]).argmax())
            coverage[pass_index] += amount
        coverage[0] += np.clip(1.0 - coverage.sum(0), 0.0, 1.0)
        return coverage

    def label_map(self) -> np.ndarray:
        """Region per pixel for masks: soft coverage where Cryptomatte exists, else the Object Index."""
        coverage = self.object_coverage()
        if coverage is not None:
            return coverage
        if self.object_index is None:
            raise EngineError(f"{self.path} has no Object Index pass; enable View Layer > Passes > Object Index")
        return self.object_index

    def require_uv(self) -> np.ndarray:
        if self.uv is None:
            raise EngineError(f"{self.path} has no UV pass; enable View Layer > Passes > Data > UV (Cycles) and "
                              "render the view again")
        return self.uv

    def require_vector(self) -> np.ndarray:
        if self.vector is None:
            raise EngineError(f"{self.path} has no Vector pass; enable View Layer > Passes > Vector (and turn motion "
                              "blur off, which disables it), or use estimated optical flow")
        return self.vector


def find_channel(channels: dict[str, np.ndarray], suffixes: tuple[str, ...]) -> np.ndarray | None:
    for suffix in suffixes:
        for name, array in channels.items():
            if name == suffix or name.endswith("." + suffix):
                return array
    return None


def _crypto_coverage(path: Path, channels: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """Per-object coverage from the CryptoObject layers and the manifest in the EXR header."""
    headers = [part.header for part in OpenEXR.File(str(path)).parts]
    manifest, layer = None, None
    for header in headers:
        for key, value in header.items():
            if key.startswith("cryptomatte/") and key.endswith("/name") and str(value).endswith("CryptoObject"):
                prefix = key[: -len("/name")]
                manifest = json.loads(header.get(f"{prefix}/manifest", "{}"))
                layer = str(value)
    if not manifest or layer is None:
        return None
    ranks = sorted({name.rsplit(".", 1)[0] for name in channels if name.startswith(layer)})
    coverage = {name: np.zeros(next(iter(channels.values())).shape, np.float32) for name in manifest}
    id_to_name = {struct.unpack("<f", struct.pack("<I", int(h, 16)))[0]: n for n, h in manifest.items()}
    for rank in ranks:
        for id_channel, cov_channel in (("r", "g"), ("b", "a")):
            ids, amounts = channels.get(f"{rank}.{id_channel}"), channels.get(f"{rank}.{cov_channel}")
            if ids is None or amounts is None:
                continue
            for object_id, name in id_to_name.items():
                hit = ids == np.float32(object_id)
                coverage[name][hit] += amounts[hit]
    return coverage


def stacked_channel(channels: dict[str, np.ndarray], layer: str, components: str) -> np.ndarray | None:
    """A multi-channel pass (e.g. Combined.R/G/B) as H x W x C, whatever the view-layer prefix."""
    prefixes = sorted({n.rsplit(".", 1)[0] for n in channels if n.endswith(f"{layer}.{components[0]}")})
    if not prefixes:
        return None
    return np.stack([channels[f"{prefixes[0]}.{c}"] for c in components], axis=-1)


def checked_pass(array: np.ndarray | None, path: Path, name: str) -> np.ndarray | None:
    """A pass with only finite values (None stays None); NaN or infinity anywhere is one line naming the pass."""
    return None if array is None else check_channel(array, path, name)


def depth_pass(channels: dict[str, np.ndarray], path: Path) -> np.ndarray | None:
    """The Depth pass: +infinity (the world, as some renderers write it) becomes FAR_DEPTH, the only cleaning that
    is safe; NaN or -infinity is one line naming the pass."""
    depth = find_channel(channels, DEPTH_NAMES)
    if depth is None:
        return None
    return check_channel(np.where(depth == np.inf, np.float32(FAR_DEPTH), depth), path, "Depth")


def index_pass(channels: dict[str, np.ndarray], path: Path) -> np.ndarray | None:
    """The Object Index pass as whole numbers; NaN or infinity is one line naming the pass."""
    index = checked_pass(find_channel(channels, INDEX_NAMES), path, "Object Index")
    return None if index is None else np.rint(index).astype(np.int64)


def read_passes(path) -> RenderPasses:
    """Every pass we use from one multilayer EXR (either Blender naming); each is checked for NaN and infinity."""
    path = Path(path)
    channels = read_exr_channels(path, "render passes")
    coverage = _crypto_coverage(path, channels)
    return RenderPasses(path, checked_pass(stacked_channel(channels, "Combined", "RGB"), path, "Combined"),
                        checked_pass(stacked_channel(channels, "Vector", "XYZW"), path, "Vector"),
                        depth_pass(channels, path), index_pass(channels, path),
                        None if coverage is None else {name: checked_pass(amount, path, f"Cryptomatte ({name})")
                                                       for name, amount in coverage.items()},
                        checked_pass(stacked_channel(channels, "UV", "UVA"), path, "UV"))


def read_label_map(path) -> np.ndarray:
    """Region ids (H x W int) from a grey/palette PNG or an EXR, or soft masks (R x H x W) from .npy or from a
    Blender EXR with Cryptomatte (its Object Index otherwise)."""
    path = Path(path)
    check_file(path, "mask")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise EngineError(f"cannot read mask {path}: not a numpy array file ({exc.__class__.__name__})") from None
        if array.ndim not in (2, 3):
            raise EngineError(f"mask {path} has shape {array.shape}; give H x W region ids or R x H x W soft masks")
        if array.dtype.kind not in "biuf":
            raise EngineError(f"mask {path} holds {array.dtype} values; give numbers (region ids or coverages)")
        return check_channel(array, path, "mask", "mask")
    if path.suffix.lower() == ".exr":
        passes = read_passes(path)
        if passes.object_index is not None:
            return passes.label_map()
        channels = read_exr_channels(path, "mask")
        name = next((n for n in ("Y", "R") if n in channels), sorted(channels)[0])
        return np.rint(check_channel(channels[name], path, f"region id ({name})", "mask")).astype(np.int64)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("P", "L", "I", "I;16"):
                return np.asarray(image).astype(np.int64)
            return np.asarray(image.convert("L")).astype(np.int64)
    except Exception as exc:  # noqa: BLE001
        raise EngineError(f"cannot read mask {path}: the file is truncated, corrupt or not an image "
                          f"({exc.__class__.__name__}); re-export it") from None
