"""The fast-model file: network weights as safetensors, with JSON metadata that says what the model is.

Metadata records the style, the training settings, the loss network's weights, the format version and the
guide channels; it is validated on load. Files are never unpickled: a foreign or corrupt file is an `EngineError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .. import __version__
from ..imageio.images import atomic_path
from ..runtime.errors import EngineError
from .network import VARIANTS, TransformerNet

FORMAT = "nst-fast-model"
FORMAT_VERSION = 1
METADATA_KEY = "nst"
MAX_MODEL_BYTES = 5 * 1024 * 1024  # the size a shipped model must stay under
TUNED_KIND, TUNED_VARIANT = "tuned", "any-style"  # the any-style network tuned to a painting (engine.anystyle.tune)


@dataclass
class ModelInfo:
    """What a model file says about itself (the `nst` JSON entry of its safetensors header)."""

    variant: str
    style: dict  # name, file, sha256 of the painting it learned (or the keyframes' style)
    training: dict  # command, iterations, crop size, weights, time, device, ...
    loss_network: dict  # VGG-19 weights source and preprocessing
    guide_channels: list[str] = field(default_factory=list)  # render-pass channels after RGB, per-shot models
    guide_ranges: list[list[float]] = field(default_factory=list)  # [low, high] of each guide, mapped to [0, 1]
    kind: str = "style"  # "style" (any content) or "shot" (learned from a shot's keyframes)
    engine_version: str = __version__

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "version": FORMAT_VERSION, **self.__dict__}, sort_keys=True)


def _not_ours(path: Path, reason: str) -> EngineError:
    return EngineError(f"{path} is not a fast-stylization model ({reason}); give a .safetensors file made by "
                       "'python -m engine train', or a name from 'python -m engine models'")


def _sniff(path: Path) -> str | None:
    """A readable reason when the file is clearly something else (we never unpickle to find out)."""
    with path.open("rb") as handle:
        head = handle.read(9)
    if head[8:9] == b"{":  # safetensors: an 8-byte header length, then the JSON header
        return None
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "it is a Python pickle, which this engine never loads"
    if head[:4] == b"PK\x03\x04":
        return "it is a zip archive, e.g. a PyTorch checkpoint, which this engine never unpickles"
    return None


def save_model(path, network: TransformerNet, info: ModelInfo) -> Path:
    """Write the network's weights and metadata atomically; shipped variants stay under 5 MB."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise EngineError(f"model output {path} must end in .safetensors")
    if not path.parent.is_dir():
        raise EngineError(f"model output folder {path.parent} does not exist; create it first")
    tensors = {name: tensor.detach().float().cpu().contiguous() for name, tensor in network.state_dict().items()}
    with atomic_path(path) as temp:
        save_file(tensors, str(temp), metadata={METADATA_KEY: info.to_json()})
    return path


def _check_metadata(path: Path, raw: dict | None) -> ModelInfo:
    if not raw or METADATA_KEY not in raw:
        raise _not_ours(path, "a safetensors file without our 'nst' metadata")
    try:
        data = json.loads(raw[METADATA_KEY])
    except json.JSONDecodeError:
        raise _not_ours(path, "its 'nst' metadata is not valid JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _not_ours(path, f"its metadata format is {data.get('format') if isinstance(data, dict) else data!r}")
    version = data.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise EngineError(f"{path} is a fast model of format version {version}; this engine reads version "
                          f"{FORMAT_VERSION} and older, so update the engine")
    fields = {"variant": str, "style": dict, "training": dict, "loss_network": dict}
    for key, kind in fields.items():
        if not isinstance(data.get(key), kind):
            raise EngineError(f"{path}: model metadata '{key}' is missing or not a {kind.__name__}; the file is "
                              "damaged, retrain or re-download it")
    tuned = data.get("kind") == TUNED_KIND and data["variant"] == TUNED_VARIANT
    if data["variant"] not in VARIANTS and not tuned:
        raise EngineError(f"{path}: unknown network variant '{data['variant']}' (this engine knows "
                          f"{', '.join(VARIANTS)}); update the engine")
    guides = data.get("guide_channels", [])
    ranges = data.get("guide_ranges", [])
    if not isinstance(guides, list) or not all(isinstance(g, str) for g in guides) or len(ranges) != len(guides):
        raise EngineError(f"{path}: model metadata 'guide_channels'/'guide_ranges' are malformed; retrain the model")
    return ModelInfo(variant=data["variant"], style=data["style"], training=data["training"],
                     loss_network=data["loss_network"], guide_channels=guides, guide_ranges=ranges,
                     kind=data.get("kind", "style"), engine_version=data.get("engine_version", "unknown"))


def read_model_info(path) -> ModelInfo:
    """The validated metadata only (cheap: reads the header, not the weights)."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"model file not found: {path}; check the path or run 'python -m engine models'")
    reason = _sniff(path)
    if reason:
        raise _not_ours(path, reason)
    try:
        with safe_open(str(path), framework="pt") as handle:
            return _check_metadata(path, handle.metadata())
    except (SafetensorError, OSError, ValueError) as exc:
        raise _not_ours(path, f"not a readable safetensors file: {exc}") from None


def load_model(path) -> tuple[TransformerNet, ModelInfo]:
    """The network (on the CPU, eval mode) and its metadata; every tensor's name and shape is checked."""
    path = Path(path)
    info = read_model_info(path)
    if info.kind == TUNED_KIND:
        raise EngineError(f"{path} is the any-style network tuned to a painting, not a trained network; open it "
                          "with engine.fast.stylize_fast.get_stylizer")
    network = TransformerNet(info.variant, guide_channels=len(info.guide_channels))
    expected = network.state_dict()
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = set(handle.keys())
            if names != set(expected):
                missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
                raise EngineError(f"{path}: weights do not fit the '{info.variant}' network (missing {missing[:3]}, "
                                  f"unexpected {extra[:3]}); the file is damaged or from another program")
            state = {name: handle.get_tensor(name) for name in names}
    except (SafetensorError, OSError, ValueError) as exc:
        raise _not_ours(path, f"its weights cannot be read: {exc}") from None
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape or not torch.isfinite(tensor).all():
            raise EngineError(f"{path}: weight '{name}' has shape {tuple(tensor.shape)} (expected "
                              f"{tuple(expected[name].shape)}) or non-finite values; the file is damaged")
    network.load_state_dict(state)
    return network.eval().requires_grad_(False), info
