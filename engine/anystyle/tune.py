"""Tuning the any-style network to one painting: minutes of Adam on the engine's own objective, from its style vector.

The any-style transformer paints a painting's colours but few of its strokes; the optimizer paints the strokes but
takes minutes a frame. Tuning starts from the painting's predicted style vector and the shipped transformer and
minimises, on a few content images, the same loss the optimizer does (`engine.optimizer.objective.PassLoss` with the
`StylizeOptions` defaults: relu4_2 content, Gram style over relu1_1..relu5_1 with its layer weights, total variation).

What is tuned (`TuneSettings.part`):
- "vector": the 100-d style vector alone;
- "norms": the vector and the conditional-norm projections (style vector to each norm's scale and shift), the
  default: the closest to the painting within the content budget (docs/any_style.md, "Tuned to a painting");
- "all": the vector and every weight of the transformer.

The style is measured where users look: each step takes one content image at a result size drawn from `sizes_px`
(longest side), a random crop of it, and the painting resized to that same longest side as the Gram target.
Tuned to a shot (`keyframes`), the content images are that many of the shot's frames, evenly spread, at their
own size by default.
The file (`save_tuned`, under 1 MB) keeps the tuned vector and transformer; the vector still goes through the
tuned projections, so strength and blends keep the meaning they have for `--model any`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch.func import functional_call

from .. import __version__
from ..fast.model_file import TUNED_KIND, TUNED_VARIANT, ModelInfo
from ..fast.train import TrainProgress, checkpoint_path, content_files, pick_keyframes, training_autocast_dtype
from ..imageio.images import atomic_path, read_rgb
from ..imageio.tensors import fit_longest_side, resize_image, to_tensor
from ..optimizer.losses import style_statistics
from ..optimizer.objective import Objective, PassLoss, StyleTerm
from ..optimizer.options import StylizeOptions
from ..optimizer.vgg import load_vgg19
from ..runtime.device import describe_device, resolve_device
from ..runtime.errors import EngineError
from .network import StyleTransformer
from .tuned_file import VECTOR_KEY, base_weights_id, save_tuned
from .weights import load_networks

PARTS = ("vector", "norms", "all")


@dataclass
class TuneSettings:
    """What shapes a tuned model; recorded in its file and checked when resuming."""

    steps: int = 300
    minutes: float | None = 4.5  # wall-clock budget of the steps; the run stops early when it is spent
    part: str = "norms"
    sizes_px: Sequence[int] = (384, 512)  # result sizes (longest side) the tuning draws from; (): the frames' own
    crop_px: int = 256
    learning_rate: float = 1e-3  # transformer weights; the vector's is VECTOR_LR_GAIN x this
    content_weight: float = 2.5  # relu4_2 content (the optimizer: 1) against style 30 and total variation 10
    weights: str = "caffe"
    seed: int = 0
    keyframes: int = 0  # > 0: tune to one shot, on this many of its frames

    def shaping(self) -> dict:
        """The settings a resumed run must share with its checkpoint (not the budget)."""
        data = json.loads(json.dumps(asdict(self)))
        data.pop("steps"), data.pop("minutes")
        return data


VECTOR_LR_GAIN = 10.0


def _norm_affines(transformer: StyleTransformer, vector: torch.Tensor, params: dict) -> dict[str, torch.Tensor]:
    """Each conditional norm's scale and shift from the style vector, differentiably (what `set_style` writes)."""
    affines = {}
    for name, module in transformer.named_modules():
        if hasattr(module, "to_scale"):
            for target, projection in (("weight", "to_scale"), ("bias", "to_shift")):
                weight = params.get(f"{name}.{projection}.weight", getattr(module, projection).weight)
                bias = params.get(f"{name}.{projection}.bias", getattr(module, projection).bias)
                affines[f"{name}.{target}"] = F.linear(vector, weight, bias)
    return affines


def styled_forward(transformer: StyleTransformer, vector: torch.Tensor, params: dict, pixels: torch.Tensor
                   ) -> torch.Tensor:
    """The transformer with `params` (tuned tensors by name) and the norms set from `vector`, with gradients."""
    return functional_call(transformer, {**params, **_norm_affines(transformer, vector, params)}, (pixels,))


def tunable_names(transformer: StyleTransformer, part: str) -> list[str]:
    """The transformer's parameters that `part` tunes (besides the vector)."""
    if part not in PARTS:
        raise EngineError(f"unknown tuning part '{part}'; use one of {', '.join(PARTS)}")
    derived = {f"{n}.{p}" for n, m in transformer.named_modules() if hasattr(m, "to_scale") for p in ("weight", "bias")}
    names = [n for n, _ in transformer.named_parameters() if n not in derived]
    if part == "vector":
        return []
    if part == "norms":
        return [n for n in names if ".to_scale." in n or ".to_shift." in n]
    return names


class _Tuner:
    """The loss network, the painting's Gram targets per size, and the tuned tensors with their optimizer."""

    def __init__(self, painting: np.ndarray, vector: torch.Tensor, settings: TuneSettings, device: str):
        if settings.crop_px < 64 or not settings.sizes_px or min(settings.sizes_px) < 64:
            raise EngineError("tuning sizes and the crop must be at least 64 px")
        self.settings = settings
        self.device = resolve_device(device)
        self.autocast_dtype = training_autocast_dtype(self.device)
        self.vgg = load_vgg19(settings.weights, device=self.device)
        self.objective = Objective.from_options(StylizeOptions(content_weight=settings.content_weight))
        self.transformer = copy.deepcopy(load_networks()[1]).to(self.device).train()
        self.vector = vector.clone().float().to(self.device).requires_grad_(True)
        self.params = {name: dict(self.transformer.named_parameters())[name].detach().clone().requires_grad_(True)
                       for name in tunable_names(self.transformer, settings.part)}
        groups = [{"params": [self.vector], "lr": settings.learning_rate * VECTOR_LR_GAIN}]
        if self.params:
            groups.append({"params": list(self.params.values()), "lr": settings.learning_rate})
        self.optimizer = torch.optim.Adam(groups)
        self.style_targets = {}
        for size in settings.sizes_px:
            style = to_tensor(painting, self.device)
            style = resize_image(style, *fit_longest_side(*style.shape[-2:], size))
            with torch.no_grad():
                features = self.features(style, self.objective.style_layers)
            self.style_targets[size] = {layer: style_statistics("gram", features[layer])
                                        for layer in self.objective.style_layers}
        self.step, self.elapsed_before_s = 0, 0.0

    def features(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                            enabled=self.autocast_dtype is not None):
            return self.vgg(images, layers)

    def sample(self, contents: list[np.ndarray]) -> tuple[torch.Tensor, int]:
        """This step's crop and result size; seeded by the step, so a resumed run draws what it would have."""
        rng = np.random.default_rng((self.settings.seed, self.step))
        content = contents[int(rng.integers(len(contents)))]
        size = int(self.settings.sizes_px[int(rng.integers(len(self.settings.sizes_px)))])
        pixels = to_tensor(content, torch.device("cpu"))
        pixels = resize_image(pixels, *fit_longest_side(*content.shape[:2], size))
        height, width = pixels.shape[-2:]
        crop_h, crop_w = min(self.settings.crop_px, height), min(self.settings.crop_px, width)
        top, left = int(rng.integers(height - crop_h + 1)), int(rng.integers(width - crop_w + 1))
        crop = pixels[..., top:top + crop_h, left:left + crop_w]
        if rng.random() < 0.5:
            crop = crop.flip(-1)
        return crop.contiguous().to(self.device), size

    def loss(self, crop: torch.Tensor, size: int) -> list[torch.Tensor]:
        output = styled_forward(self.transformer, self.vector, self.params, crop)
        features = self.features(output, self.objective.layers)
        with torch.no_grad():
            content = self.features(crop, self.objective.content_layers)
        pass_loss = PassLoss(self.objective, content, [StyleTerm(self.style_targets[size], None, 1.0)])
        return pass_loss(output, features)

    # -- checkpoints: tuned tensors, Adam moments, step, as safetensors ----------------------------------------

    def _state(self) -> list[torch.Tensor]:
        return [self.vector, *self.params.values()]

    def save_checkpoint(self, path: Path, elapsed_s: float) -> None:
        tensors = {f"tuned.{VECTOR_KEY}": self.vector.detach().cpu().contiguous()}
        tensors |= {f"tuned.{name}": value.detach().cpu().contiguous() for name, value in self.params.items()}
        for index, tensor in enumerate(self._state()):
            for key, value in self.optimizer.state.get(tensor, {}).items():
                tensors[f"adam.{index}.{key}"] = torch.as_tensor(value).detach().float().cpu().contiguous()
        metadata = {"nst-engine": __version__, "step": str(self.step), "elapsed_s": str(elapsed_s),
                    "settings": json.dumps(self.settings.shaping(), sort_keys=True)}
        with atomic_path(path) as temp:
            save_file(tensors, str(temp), metadata=metadata)

    def load_checkpoint(self, path: Path) -> None:
        if not path.is_file():
            raise EngineError(f"--resume: no checkpoint at {path}; tune without --resume first")
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}
            saved = json.loads(metadata["settings"])
            step, elapsed = int(metadata["step"]), float(metadata["elapsed_s"])
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint gets the same advice
            raise EngineError(f"--resume: cannot read checkpoint {path} ({exc.__class__.__name__}); delete it and "
                              "tune from the start") from None
        if saved != self.settings.shaping():
            changed = sorted(k for k in saved if saved[k] != self.settings.shaping().get(k))
            raise EngineError(f"--resume: checkpoint {path} was made with other settings ({', '.join(changed)}); "
                              "use the same settings, or tune without --resume")
        with torch.no_grad():
            self.vector.copy_(tensors[f"tuned.{VECTOR_KEY}"])
            for name, value in self.params.items():
                value.copy_(tensors[f"tuned.{name}"])
        for index, tensor in enumerate(self._state()):
            if f"adam.{index}.step" in tensors:
                self.optimizer.state[tensor] = {key: tensors[f"adam.{index}.{key}"].to(self.device)
                                                for key in ("exp_avg", "exp_avg_sq")}
                self.optimizer.state[tensor]["step"] = tensors[f"adam.{index}.step"].cpu()
        self.step, self.elapsed_before_s = step, elapsed

    def tuned_transformer(self) -> StyleTransformer:
        """The transformer with the tuned weights, on the CPU, its norms set to the tuned vector."""
        network = copy.deepcopy(load_networks()[1])  # not self.transformer: it holds tensors of the graph
        with torch.no_grad():
            for name, value in self.params.items():
                network.get_parameter(name).copy_(value.detach().cpu())
        network.set_style(self.vector.detach().cpu())
        return network.requires_grad_(False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tune_to_painting(style, content_dirs: Sequence, output, settings: TuneSettings | None = None, *,
                     device: str = "auto", checkpoint_every: int = 50, resume: bool = False,
                     command: str | None = None, callback: Callable[[TrainProgress], None] | None = None
                     ) -> ModelInfo:
    """Tune the any-style network to the painting `style` on the images of `content_dirs`; writes `output`
    (.safetensors, atomically: an interrupted run leaves only its checkpoint) and returns its metadata."""
    from .stylizer import AnyStyleStylizer

    settings = settings or TuneSettings()
    style_path, output = Path(style), Path(output)
    if output.suffix != ".safetensors":
        raise EngineError(f"--output {output} must end in .safetensors")
    if not output.parent.is_dir():
        raise EngineError(f"output folder {output.parent} does not exist; create it first")
    if settings.steps < 1 or (settings.minutes is not None and settings.minutes <= 0):
        raise EngineError("the tuning budget must be at least one step and a positive number of minutes")
    painting = read_rgb(style_path, "style image")
    if settings.keyframes and len(content_dirs) != 1:
        raise EngineError("tuning to a shot takes one --content-dir: the shot's frames")
    files = pick_keyframes(content_dirs[0], settings.keyframes) if settings.keyframes else content_files(content_dirs)
    contents = [read_rgb(path, "content image") for path in files]
    if not settings.sizes_px:
        settings = replace(settings, sizes_px=tuple(sorted({max(c.shape[:2]) for c in contents})))
    vector = AnyStyleStylizer("cpu", cache_dir=None).style_vector(painting, cache=False)
    tuner = _Tuner(painting, vector, settings, device)
    checkpoint = checkpoint_path(output)
    if resume:
        tuner.load_checkpoint(checkpoint)
        if tuner.step >= settings.steps:
            raise EngineError(f"--resume: the checkpoint is at step {tuner.step} already; ask for more --steps")
    budget_s = None if settings.minutes is None else settings.minutes * 60.0  # this run's, resumed or not
    started = time.perf_counter()
    losses: list[float] = []

    def elapsed() -> float:
        return tuner.elapsed_before_s + time.perf_counter() - started

    while tuner.step < settings.steps and (budget_s is None or time.perf_counter() - started < budget_s):
        crop, size = tuner.sample(contents)
        tuner.optimizer.zero_grad(set_to_none=True)
        total = tuner.loss(crop, size)[0]
        if not torch.isfinite(total):
            raise EngineError(f"tuning diverged at step {tuner.step + 1} (loss {float(total)}); lower the "
                              "learning rate")
        total.backward()
        tuner.optimizer.step()
        tuner.step += 1
        losses.append(float(total.detach()))
        if callback is not None:
            callback(TrainProgress("tuning", tuner.step, settings.steps, losses[-1], elapsed()))
        if checkpoint_every and tuner.step % checkpoint_every == 0:
            tuner.save_checkpoint(checkpoint, elapsed())
    seconds = elapsed()
    info = ModelInfo(
        variant=TUNED_VARIANT, kind=TUNED_KIND,
        style={"name": style_path.stem, "file": style_path.name, "sha256": _sha256(style_path)},
        training={**settings.shaping(), "sizes_px": list(settings.sizes_px), "steps": tuner.step,
                  "steps_asked": settings.steps, "minutes_budget": settings.minutes, "time_s": round(seconds, 1),
                  "device": describe_device(tuner.device), "torch_version": torch.__version__, "command": command,
                  "content_images": len(files), "content_dirs": [Path(d).name for d in content_dirs],
                  "keyframe_files": [p.name for p in files] if settings.keyframes else None,
                  "first_loss": losses[0] if losses else None,
                  "last_loss": float(np.mean(losses[-20:])) if losses else None,
                  "objective": "engine.optimizer.objective.PassLoss with the StylizeOptions defaults",
                  "base_weights": base_weights_id()},
        loss_network={"source": tuner.vgg.info.source, "preprocessing": tuner.vgg.info.preprocessing,
                      "file": Path(tuner.vgg.info.path).name, "pooling": tuner.vgg.pooling})
    if checkpoint_every:  # --resume with more --steps continues from here
        tuner.save_checkpoint(checkpoint, seconds)
    save_tuned(output, tuner.tuned_transformer(), tuner.vector.detach().cpu(), info)
    return info
