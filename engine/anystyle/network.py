"""Magenta's arbitrary image stylization network (Ghiasi et al. 2017) as torch modules, float and fully convolutional.

`StylePredictor` (MobileNetV2, then a 1x1 bottleneck) maps a painting to a 100-d style vector; `StyleTransformer`
(convolutions, residual blocks with conditional instance norm, upsampling, sigmoid) paints a photo with it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..fast.network import InstanceNorm

STYLE_DIM = 100
SIZE_MULTIPLE_PX = 4  # two stride-2 convolutions: the transformer's input is padded to a multiple of this
# MobileNetV2 (Sandler et al. 2018, width 1.0): (expansion, output channels, stride) of each inverted residual block.
MOBILENET_BLOCKS = ((1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 32, 1), (6, 64, 2), (6, 64, 1),
                    (6, 64, 1), (6, 64, 1), (6, 96, 1), (6, 96, 1), (6, 96, 1), (6, 160, 2), (6, 160, 1),
                    (6, 160, 1), (6, 320, 1))
TRANSFORMER_CHANNELS = (8, 16, 32)  # the width of the shipped (int8, TFLite) transformer, a quarter of the paper's
RESIDUAL_BLOCKS = 5


class SameConv(nn.Conv2d):
    """A convolution with TensorFlow's 'SAME' zero padding (extra pixel at the bottom and right when uneven)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, 3x3 depthwise, 1x1 linear projection; a shortcut when the shapes agree."""

    def __init__(self, in_channels: int, expansion: int, out_channels: int, stride: int):
        super().__init__()
        hidden = in_channels * expansion
        self.expand = nn.Conv2d(in_channels, hidden, 1) if expansion != 1 else None
        self.depthwise = SameConv(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, out_channels, 1)
        self.shortcut = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.expand(x)) if self.expand is not None else x
        h = self.project(F.relu6(self.depthwise(h)))
        return x + h if self.shortcut else h


class StylePredictor(nn.Module):
    """Painting (1, 3, H, W) in [0, 1] to its style vector (1, 100): MobileNetV2's features, averaged, projected."""

    def __init__(self):
        super().__init__()
        self.stem = SameConv(3, 32, 3, 2)
        blocks, channels = [], 32
        for expansion, out_channels, stride in MOBILENET_BLOCKS:
            blocks.append(InvertedResidual(channels, expansion, out_channels, stride))
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(channels, 1280, 1)
        self.bottleneck = nn.Conv2d(1280, STYLE_DIM, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.head(self.blocks(F.relu6(self.stem(x)))))
        return self.bottleneck(h.mean((2, 3), keepdim=True)).flatten(1)


class ReflectConv(nn.Sequential):
    """Mirror padding then an unpadded convolution (the 'MirrorPad' + 'VALID' pairs of the original graph)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_channels, out_channels, kernel, stride))


class ConditionalNorm(InstanceNorm):
    """Conditional instance norm: its scale and shift come from the style vector through two 1x1 projections.

    `set_style` writes them into the affine parameters, so a frame runs as plain instance norm (batch of one), with
    the statistics recording/freezing that tiled inference relies on.
    """

    def __init__(self, channels: int):
        super().__init__(channels)
        self.to_scale = nn.Linear(STYLE_DIM, channels)
        self.to_shift = nn.Linear(STYLE_DIM, channels)

    @torch.no_grad()
    def set_style(self, vector: torch.Tensor) -> None:
        vector = vector.reshape(STYLE_DIM).float()
        self.weight.copy_(F.linear(vector, self.to_scale.weight.float(), self.to_scale.bias.float()))
        self.bias.copy_(F.linear(vector, self.to_shift.weight.float(), self.to_shift.bias.float()))


# Nearest 2x upsampling then a mirrored 3x3 convolution equals, per output phase (row a, column b), a convolution of
# the small image (edge-replicated) whose kernel rows/columns are summed: phase 0 uses (k0, k1 + k2) at offsets
# (-1, 0), phase 1 uses (k0 + k1, k2) at offsets (0, +1). One convolution with 4x the channels and a pixel shuffle
# then replaces the convolution at the large size: same result, a third of the time on a CPU.
_PHASE_SUMS = torch.tensor([[[1., 0., 0.], [0., 1., 1.], [0., 0., 0.]],
                            [[0., 0., 0.], [1., 1., 0.], [0., 0., 1.]]])


class ConvNorm(nn.Module):
    """Convolution (after nearest 2x upsampling if `upsample`), conditional instance norm, activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, activation=F.relu_, upsample: bool = False):
        super().__init__()
        self.conv = ReflectConv(in_channels, out_channels, kernel)
        self.norm = ConditionalNorm(out_channels)
        self.activation = activation
        self.upsample = upsample

    def _phase_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(4 x out, in, 3, 3) kernel and bias of the four phases, made once per weight tensor (device, dtype)."""
        conv = self.conv[1]
        key = (conv.weight.data_ptr(), conv.weight.dtype, conv.weight.device, conv.weight._version)
        if conv.weight.requires_grad and torch.is_grad_enabled():  # tuning: a kernel of this step's graph, not kept
            sums = _PHASE_SUMS.to(conv.weight.device, conv.weight.dtype)
            kernel = torch.einsum("aij,ocjl,bml->oabcim", sums, conv.weight, sums)
            return kernel.reshape(-1, *conv.weight.shape[1:]), conv.bias.repeat_interleave(4)
        if getattr(self, "_phase_key", None) != key:
            sums = _PHASE_SUMS.to(conv.weight.device, conv.weight.dtype)
            kernel = torch.einsum("aij,ocjl,bml->oabcim", sums, conv.weight, sums)  # (out, 2, 2, in, 3, 3)
            self._phase = (kernel.reshape(-1, *conv.weight.shape[1:]).contiguous(), conv.bias.repeat_interleave(4))
            self._phase_key = key
        return self._phase

    def _upsampled_conv(self, x: torch.Tensor) -> torch.Tensor:
        kernel, bias = self._phase_kernel()
        return F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, bias), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self._upsampled_conv(x) if self.upsample else self.conv(x))
        return self.activation(y) if self.activation is not None else y


class StyledResidual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvNorm(channels, channels, 3)
        self.conv2 = ConvNorm(channels, channels, 3, activation=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class StyleTransformer(nn.Module):
    """Photo (1, 3, H, W) in [0, 1] to the stylized photo, any size, for the style last given to `set_style`."""

    def __init__(self):
        super().__init__()
        c1, c2, c3 = TRANSFORMER_CHANNELS
        self.contract = nn.ModuleList([ReflectConv(3, c1, 9), ReflectConv(c1, c2, 3, 2), ReflectConv(c2, c3, 3, 2)])
        self.residuals = nn.Sequential(*(StyledResidual(c3) for _ in range(RESIDUAL_BLOCKS)))
        self.expand = nn.ModuleList([ConvNorm(c3, c2, 3, upsample=True), ConvNorm(c2, c1, 3, upsample=True),
                                     ConvNorm(c1, 3, 9, torch.sigmoid_)])

    def set_style(self, vector: torch.Tensor) -> None:
        for norm in self.norms():
            norm.set_style(vector.to(norm.weight.device))

    def norms(self) -> list[ConditionalNorm]:
        return [m for m in self.modules() if isinstance(m, ConditionalNorm)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % SIZE_MULTIPLE_PX, -width % SIZE_MULTIPLE_PX
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        for conv in self.contract:
            x = F.relu_(conv(x))
        for layer in (self.residuals, *self.expand):
            x = layer(x)
        return x[..., :height, :width]
