"""Training fast models: a style network on many content images, or a per-shot network on optimized keyframes.

Both use the engine's VGG-19 perceptual loss on random augmented crops, mixed precision on a GPU, progress
through a callback, and resumable checkpoints (safetensors, never pickles) beside the output.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torchvision.transforms import v2

from .. import __version__
from ..imageio.images import atomic_path, read_rgb
from ..imageio.tensors import fit_longest_side, resize_image, to_tensor
from ..optimizer.losses import content_distance, style_distance, style_statistics, total_variation
from ..optimizer.options import DEFAULT_STYLE_LAYERS, refuse_nothing_to_optimize, resolve_precision
from ..optimizer.vgg import check_layers, load_vgg19
from ..runtime.device import describe_device, resolve_device
from ..runtime.errors import EngineError
from ..stylize import StyleTransfer
from .guides import guide_channel_names, guide_ranges, read_guides
from .model_file import ModelInfo, save_model
from .network import TransformerNet

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".exr")
SHOT_FEATURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


@dataclass(frozen=True)
class TrainProgress:
    """One step of training (or one keyframe stylized first, in per-shot mode)."""

    phase: str  # "keyframes" or "training"
    step: int  # 1-based
    steps: int
    loss: float
    elapsed_s: float

    @property
    def fraction_done(self) -> float:
        return self.step / self.steps


@dataclass
class TrainSettings:
    """Everything that shapes a model; recorded in its metadata and checked when resuming."""

    steps: int = 2000
    batch_size: int = 4
    crop_px: int = 256
    variant: str = "small"
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 5.0  # with content at relu2_2; the bundled models use it
    tv_weight: float = 10.0
    content_layers: Sequence[str] = ("relu2_2",)
    style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS
    style_size_px: int = 320
    weights: str = "caffe"
    seed: int = 0
    guides: Sequence[str] = ()  # render passes fed to a per-shot network
    keyframes: int = 0  # > 0: per-shot mode, this many keyframes stylized by the optimizer
    keyframe_size_px: int = 512
    keyframe_iterations: int = 200

    def __post_init__(self) -> None:
        refuse_nothing_to_optimize(dict(content=self.content_weight, style=self.style_weight, tv=self.tv_weight), None)

    def shaping(self) -> dict:
        """The settings a resumed run must share with its checkpoint."""
        data = asdict(self)
        data.pop("steps")
        return json.loads(json.dumps(data))


def content_files(folders: Sequence) -> list[Path]:
    """Every image or render in the given folders (not recursive), sorted by name."""
    files = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise EngineError(f"content folder {folder} does not exist or is not a folder; check the path")
        files += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise EngineError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, folders))}; "
                          "give folders of content pictures or rendered frames")
    return files


def pick_keyframes(frames_dir, count: int) -> list[Path]:
    """`count` frames of a shot's folder, evenly spread from its first frame to its last (a picture beside its
    passes' EXR of the same name counts once, as the picture)."""
    frames = list({path.stem: path for path in sorted(content_files([frames_dir]),
                                                      key=lambda path: path.suffix.lower() != ".exr")}.values())
    frames.sort()
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return [frames[i] for i in dict.fromkeys(picks.tolist())]


def checkpoint_path(output: Path) -> Path:
    return output.with_name(output.name.removesuffix(".safetensors") + ".ckpt.safetensors")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def training_autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed precision: bf16 (or fp16) on a GPU, bf16 on CPUs where it is faster (AMX, engine.optimizer.options), else none."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return resolve_precision("auto", device)


def _load_pixels(path: Path, longest_px: int, device: torch.device) -> torch.Tensor:
    """An image as (1, 3, H, W), shrunk (never enlarged) to `longest_px`."""
    rgb = read_rgb(path, "content image")
    height, width = rgb.shape[:2]
    tensor = to_tensor(rgb, device)
    if max(height, width) > longest_px:
        tensor = resize_image(tensor, *fit_longest_side(height, width, longest_px))
    return tensor


class _Trainer:
    """The loss network, the style targets and the optimisation loop shared by both modes."""

    def __init__(self, settings: TrainSettings, device: str, guide_channels: int = 0):
        check_layers([*settings.content_layers, *settings.style_layers])
        if settings.steps < 1 or settings.batch_size < 1 or settings.crop_px < 32:
            raise EngineError("steps and batch size must be at least 1 and the crop at least 32 px")
        self.settings = settings
        self.device = resolve_device(device)
        self.vgg = load_vgg19(settings.weights, device=self.device)
        self.autocast_dtype = training_autocast_dtype(self.device)
        torch.manual_seed(settings.seed)
        self.network = TransformerNet(settings.variant, guide_channels).to(self.device)
        if self.device.type == "cuda":
            self.network = self.network.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=settings.learning_rate)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype == torch.float16)
        self.step = 0
        self.elapsed_before_s = 0.0

    def features(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                            enabled=self.autocast_dtype is not None):
            return self.vgg(images, layers)

    # -- checkpoints: model, Adam moments, RNG and step, as safetensors ------------------------------------

    def save_checkpoint(self, path: Path, elapsed_s: float) -> None:
        tensors = {f"model.{k}": v.detach().float().cpu().contiguous() for k, v in self.network.state_dict().items()}
        for index, state in self.optimizer.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"adam.{index}.{key}"] = torch.as_tensor(value).detach().float().cpu().contiguous()
        tensors["rng.torch"] = torch.get_rng_state()
        metadata = {"nst-engine": __version__, "step": str(self.step), "elapsed_s": str(elapsed_s),
                    "settings": json.dumps(self.settings.shaping(), sort_keys=True)}
        with atomic_path(path) as temp:
            save_file(tensors, str(temp), metadata=metadata)

    def load_checkpoint(self, path: Path) -> None:
        if not path.is_file():
            raise EngineError(f"--resume: no checkpoint at {path}; train without --resume first")
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}
            saved = json.loads(metadata["settings"])
            step, elapsed = int(metadata["step"]), float(metadata["elapsed_s"])
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint gets the same advice
            raise EngineError(f"--resume: cannot read checkpoint {path} ({exc.__class__.__name__}); delete it and "
                              "train from the start") from None
        if saved != self.settings.shaping():
            changed = sorted(k for k in saved if saved[k] != self.settings.shaping().get(k))
            raise EngineError(f"--resume: checkpoint {path} was made with other settings ({', '.join(changed)}); "
                              "use the same settings, or train without --resume")
        self.network.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        state = self.optimizer.state_dict()
        for index in range(len(list(self.network.parameters()))):
            if f"adam.{index}.step" in tensors:
                state["state"][index] = {key: tensors[f"adam.{index}.{key}"].to(self.device)
                                         for key in ("step", "exp_avg", "exp_avg_sq")}
                state["state"][index]["step"] = state["state"][index]["step"].cpu()
        self.optimizer.load_state_dict(state)
        torch.set_rng_state(tensors["rng.torch"])
        self.step, self.elapsed_before_s = step, elapsed

    # -- the loop ------------------------------------------------------------------------------------------

    def run(self, samples: list[torch.Tensor], loss_fn, output: Path, checkpoint_every: int, resume: bool,
            callback: Callable[[TrainProgress], None] | None) -> float:
        """Train on random augmented crops of `samples` (each C x H x W, stacked channels); returns seconds spent."""
        settings = self.settings
        checkpoint = checkpoint_path(output)
        if resume:
            self.load_checkpoint(checkpoint)
            if self.step >= settings.steps:
                raise EngineError(f"--resume: the checkpoint is at step {self.step} already; ask for more --steps")
        crops = [v2.RandomResizedCrop(settings.crop_px, scale=(0.3, 1.0), antialias=True)]
        if not settings.guides:  # a mirrored normal pass would lie about which way surfaces face
            crops.append(v2.RandomHorizontalFlip())
        augment = v2.Compose(crops)
        started = time.perf_counter()
        self.network.train()
        while self.step < settings.steps:
            picks = torch.randint(len(samples), (settings.batch_size,)).tolist()
            batch = torch.stack([augment(samples[i]) for i in picks]).to(self.device, torch.float32)
            if self.device.type == "cuda":
                batch = batch.contiguous(memory_format=torch.channels_last)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                                enabled=self.autocast_dtype is not None):
                loss = loss_fn(batch)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
            if not torch.isfinite(loss):
                raise EngineError(f"training diverged at step {self.step} (loss is {float(loss)}); lower the "
                                  "learning rate or the style weight")
            if callback is not None:
                callback(TrainProgress("training", self.step, settings.steps, float(loss.detach()),
                                       self.elapsed_before_s + time.perf_counter() - started))
            if checkpoint_every and (self.step % checkpoint_every == 0 or self.step == settings.steps):
                self.save_checkpoint(checkpoint, self.elapsed_before_s + time.perf_counter() - started)
        self.network.eval()
        return self.elapsed_before_s + time.perf_counter() - started

    def training_record(self, seconds: float, command: str | None) -> dict:
        return {**self.settings.shaping(), "steps": self.settings.steps, "time_s": round(seconds, 1),
                "device": describe_device(self.device), "torch_version": torch.__version__, "command": command,
                "mixed_precision": str(self.autocast_dtype).removeprefix("torch.") if self.autocast_dtype else None}

    def loss_network_record(self) -> dict:
        return {"source": self.vgg.info.source, "preprocessing": self.vgg.info.preprocessing,
                "file": Path(self.vgg.info.path).name, "pooling": self.vgg.pooling}


def _style_record(style_path: Path) -> dict:
    return {"name": style_path.stem, "file": style_path.name, "sha256": _sha256(style_path)}


def perceptual_loss(trainer: _Trainer, style_path: Path):
    """The Johnson et al. loss on our relative terms: content + weighted Gram style + total variation."""
    settings = trainer.settings
    style = to_tensor(read_rgb(style_path, "style image"), trainer.device)
    style = resize_image(style, *fit_longest_side(*style.shape[-2:], settings.style_size_px))
    with torch.no_grad():
        style_features = trainer.features(style, settings.style_layers)
        targets = {layer: style_statistics("gram", style_features[layer]) for layer in settings.style_layers}
    layers = list(dict.fromkeys([*settings.content_layers, *settings.style_layers]))

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        output = trainer.network(batch)
        features = trainer.features(output, layers)
        with torch.no_grad():
            content = trainer.features(batch, settings.content_layers)
        c_loss = sum(content_distance(features[layer], content[layer]) for layer in settings.content_layers)
        s_loss = sum(style_distance("gram", style_statistics("gram", features[layer][i:i + 1]), targets[layer])
                     for layer in settings.style_layers for i in range(batch.shape[0]))
        s_loss = s_loss / (len(settings.style_layers) * batch.shape[0])
        return (settings.content_weight * c_loss / len(settings.content_layers) + settings.style_weight * s_loss
                + settings.tv_weight * total_variation(output))

    return loss_fn


def train_style(style, content_dirs: Sequence, output, settings: TrainSettings | None = None, *,
                device: str = "auto", checkpoint_every: int = 200, resume: bool = False,
                command: str | None = None, callback: Callable[[TrainProgress], None] | None = None) -> ModelInfo:
    """Train a network that stylizes any content like `style`; writes `output` (.safetensors) and returns its info."""
    settings = settings or TrainSettings()
    style_path, output = Path(style), Path(output)
    read_rgb(style_path, "style image")  # a clear error before any slow work
    files = content_files(content_dirs)
    trainer = _Trainer(settings, device)
    samples = [_load_pixels(path, settings.crop_px * 2, torch.device("cpu"))[0] for path in files]
    seconds = trainer.run(samples, perceptual_loss(trainer, style_path), output, checkpoint_every, resume,
                          callback)
    info = ModelInfo(variant=settings.variant, style=_style_record(style_path),
                     training={**trainer.training_record(seconds, command), "content_images": len(files),
                               "content_dirs": [Path(d).name for d in content_dirs]},
                     loss_network=trainer.loss_network_record())
    save_model(output, trainer.network.cpu(), info)
    return info


def train_shot(style, frames_dir, output, settings: TrainSettings, *, device: str = "auto",
               checkpoint_every: int = 200, resume: bool = False, command: str | None = None,
               callback: Callable[[TrainProgress], None] | None = None) -> ModelInfo:
    """Per-shot mode (after Texler et al. 2020): stylize a few keyframes with the optimizer, then train a network,
    with render passes as guides, to reproduce them; it then stylizes every frame of the shot in one pass."""
    if settings.keyframes < 1:
        raise EngineError("per-shot training needs at least one keyframe")
    style_path, output = Path(style), Path(output)
    style = read_rgb(style_path, "style image")
    keyframes = pick_keyframes(frames_dir, settings.keyframes)
    channel_names = guide_channel_names(keyframes[0], settings.guides) if settings.guides else []
    trainer = _Trainer(settings, device, len(channel_names))
    optimizer = StyleTransfer(device=str(trainer.device), weights=settings.weights)
    started = time.perf_counter()
    inputs, targets, guides = [], [], []
    for number, path in enumerate(keyframes, start=1):
        content = _load_pixels(path, settings.keyframe_size_px, torch.device("cpu"))
        rgb = content[0].permute(1, 2, 0).numpy()
        result = optimizer.stylize(rgb, [style], size_px=max(rgb.shape[:2]), iterations=settings.keyframe_iterations,
                                   seed=settings.seed)
        inputs.append(content[0])
        targets.append(torch.from_numpy(result.image).permute(2, 0, 1))
        if channel_names:
            raw = torch.from_numpy(read_guides(path, channel_names)).permute(2, 0, 1)[None]
            guides.append(F.interpolate(raw, size=rgb.shape[:2], mode="area")[0])
        if callback is not None:
            callback(TrainProgress("keyframes", number, len(keyframes), float(result.losses.get("loss", 0.0)),
                                   time.perf_counter() - started))
    ranges = guide_ranges([g.permute(1, 2, 0).numpy() for g in guides]) if guides else []
    if guides:
        low = torch.tensor([r[0] for r in ranges])[:, None, None]
        span = torch.tensor([max(r[1] - r[0], 1e-6) for r in ranges])[:, None, None]
        guides = [(g - low) / span for g in guides]
    samples = [torch.cat([inputs[i], *(guides[i:i + 1]), targets[i]]) for i in range(len(keyframes))]
    inputs_channels = 3 + len(channel_names)

    def loss_fn(batch: torch.Tensor) -> torch.Tensor:
        network_input, target = batch[:, :inputs_channels], batch[:, inputs_channels:]
        output_rgb = trainer.network(network_input)
        features = trainer.features(output_rgb, SHOT_FEATURE_LAYERS)
        with torch.no_grad():
            wanted = trainer.features(target, SHOT_FEATURE_LAYERS)
        perceptual = sum(content_distance(features[layer], wanted[layer]) for layer in SHOT_FEATURE_LAYERS)
        return F.l1_loss(output_rgb, target) + perceptual / len(SHOT_FEATURE_LAYERS)

    keyframe_s = time.perf_counter() - started
    seconds = trainer.run(samples, loss_fn, output, checkpoint_every, resume, callback)
    info = ModelInfo(variant=settings.variant, style=_style_record(style_path),
                     training={**trainer.training_record(keyframe_s + seconds, command),
                               "keyframe_time_s": round(keyframe_s, 1),
                               "keyframe_files": [p.name for p in keyframes]},
                     loss_network=trainer.loss_network_record(), guide_channels=channel_names,
                     guide_ranges=ranges, kind="shot")
    save_model(output, trainer.network.cpu(), info)
    return info
