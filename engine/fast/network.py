"""The image transformation network of fast stylization (Johnson et al. 2016), in two sizes.

Reflection padding, instance normalisation, residual blocks, and upsample-then-convolve (no checkerboard);
extra input channels carry render-pass guides (normals, UV, object index) for per-shot models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.errors import EngineError

# Channels of the three scales (full, 1/2, 1/4 resolution) and residual blocks at 1/4 resolution.
VARIANTS: dict[str, dict] = {
    "small": {"channels": (16, 32, 64), "residual_blocks": 5},  # about 1.7 MB: the shipped size
    "johnson": {"channels": (32, 64, 128), "residual_blocks": 5},  # the paper's network, about 6.7 MB
}
SIZE_MULTIPLE_PX = 4  # two stride-2 convolutions: inputs are padded to a multiple of this


class InstanceNorm(nn.InstanceNorm2d):
    """Instance normalisation whose statistics can be frozen, so that tiles of one image share them."""

    def __init__(self, channels: int):
        super().__init__(channels, affine=True)
        self.frozen: tuple[torch.Tensor, torch.Tensor] | None = None
        self.recorded: tuple[torch.Tensor, torch.Tensor] | None = None
        self.record = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.record:
            var, mean = torch.var_mean(x.float(), dim=(2, 3), unbiased=False)
            self.recorded = (mean[0], var[0])
        if self.frozen is None:
            return super().forward(x)
        mean, var = (s.to(x.dtype) for s in self.frozen)
        return F.instance_norm(x, mean, var, self.weight, self.bias, use_input_stats=False, eps=self.eps)


class ConvLayer(nn.Sequential):
    """Reflection padding then a convolution, optionally strided."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_channels, out_channels, kernel, stride))


class ConvNormReLU(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1):
        super().__init__(ConvLayer(in_channels, out_channels, kernel, stride), InstanceNorm(out_channels),
                         nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm, added to the input (He et al. 2016, as in Johnson et al.)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(ConvNormReLU(channels, channels, 3), ConvLayer(channels, channels, 3),
                                  InstanceNorm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Sequential):
    """Nearest-neighbour 2x upsampling then a convolution (Odena et al. 2016: no checkerboard artefacts)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvNormReLU(in_channels, out_channels, 3))


class TransformerNet(nn.Module):
    """RGB in [0, 1] (plus guide channels) to a stylized RGB image in [0, 1] of the same size."""

    def __init__(self, variant: str = "small", guide_channels: int = 0):
        super().__init__()
        if variant not in VARIANTS:
            raise EngineError(f"unknown network variant '{variant}'; use one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.guide_channels = guide_channels
        c1, c2, c3 = VARIANTS[variant]["channels"]
        self.encoder = nn.Sequential(ConvNormReLU(3 + guide_channels, c1, 9), ConvNormReLU(c1, c2, 3, 2),
                                     ConvNormReLU(c2, c3, 3, 2))
        self.residuals = nn.Sequential(*(ResidualBlock(c3) for _ in range(VARIANTS[variant]["residual_blocks"])))
        self.decoder = nn.Sequential(UpsampleConv(c3, c2), UpsampleConv(c2, c1), ConvLayer(c1, 3, 9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % SIZE_MULTIPLE_PX, -width % SIZE_MULTIPLE_PX
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        y = self.decoder(self.residuals(self.encoder(x)))
        return torch.sigmoid(y[..., :height, :width])

    def norms(self) -> list[InstanceNorm]:
        return [m for m in self.modules() if isinstance(m, InstanceNorm)]
