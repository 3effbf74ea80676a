"""A tuned any-style model's file: the transformer's own weights and the painting's style vector in .safetensors,
written atomically, and read back with every tensor checked against the any-style network installed here."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..fast.model_file import METADATA_KEY, ModelInfo
from ..imageio.images import atomic_path
from ..runtime.errors import EngineError
from .network import StyleTransformer
from .weights import PREDICT_FILE, TRANSFORM_FILE, load_networks, weights_dir

VECTOR_KEY = "style_vector"


def base_weights_id() -> str:
    """The shipped any-style weights a tuned file builds on (sha256 of both ONNX files, 16 hex digits)."""
    digest = hashlib.sha256()
    for name in (PREDICT_FILE, TRANSFORM_FILE):
        digest.update((weights_dir() / name).read_bytes())
    return digest.hexdigest()[:16]


def save_tuned(path: Path, transformer: StyleTransformer, vector: torch.Tensor, info: ModelInfo) -> Path:
    """Write a tuned model: the transformer's own weights (the norms' affines are derived, not stored), the vector."""
    derived = {f"{n}.{p}" for n, m in transformer.named_modules() if hasattr(m, "to_scale") for p in ("weight", "bias")}
    tensors = {name: value.detach().float().cpu().contiguous() for name, value in transformer.state_dict().items()
               if name not in derived}
    tensors[VECTOR_KEY] = vector.detach().float().reshape(-1).contiguous()
    with atomic_path(path) as temp:
        save_file(tensors, str(temp), metadata={METADATA_KEY: info.to_json()})
    return path


def load_tuned(path: Path, info: ModelInfo) -> tuple[StyleTransformer, torch.Tensor]:
    """The tuned transformer (CPU, eval) and its style vector; every tensor's name, shape and value is checked, and
    the file must build on the any-style weights installed here."""
    base = info.training.get("base_weights")
    if base != base_weights_id():
        raise EngineError(f"{path} was tuned from other any-style weights ({base}, installed: {base_weights_id()}); "
                          "tune it again here")
    transformer = copy.deepcopy(load_networks()[1])
    derived = {f"{n}.{p}" for n, m in transformer.named_modules() if hasattr(m, "to_scale") for p in ("weight", "bias")}
    expected = {name: value for name, value in transformer.state_dict().items() if name not in derived}
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = set(handle.keys())
            if names != set(expected) | {VECTOR_KEY}:
                missing, extra = sorted((set(expected) | {VECTOR_KEY}) - names), sorted(names - set(expected))
                raise EngineError(f"{path}: weights do not fit the any-style network (missing {missing[:3]}, "
                                  f"unexpected {extra[:3]}); the file is damaged or from another network")
            state = {name: handle.get_tensor(name) for name in names}
    except Exception as exc:  # noqa: BLE001 - safetensors reports damage with several exception types
        if isinstance(exc, EngineError):
            raise
        raise EngineError(f"{path}: its weights cannot be read ({exc.__class__.__name__}); tune it again") from None
    vector = state.pop(VECTOR_KEY)
    for name, tensor in [*state.items(), (VECTOR_KEY, vector)]:
        shape = expected[name].shape if name in expected else (vector.numel(),)
        if tuple(tensor.shape) != tuple(shape) or not torch.isfinite(tensor).all():
            raise EngineError(f"{path}: weight '{name}' has shape {tuple(tensor.shape)} (expected {tuple(shape)}) "
                              "or non-finite values; the file is damaged")
    transformer.load_state_dict(state, strict=False)
    return transformer.eval().requires_grad_(False), vector.float()
