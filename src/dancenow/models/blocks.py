"""Building blocks shared by the generators and discriminators."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NORM_KERNELS = ("group", "instance")


class InstanceNorm(nn.Module):
    """Instance normalization without affine parameters (pix2pixHD's ``InstanceNorm2d``).

    ``kernel="group"`` (default) computes it with the group-norm kernel, one group per channel:
    the same statistics (biased variance, same eps), but its backward pass on CPU is several times
    faster than ``nn.InstanceNorm2d``'s, which goes through batch norm on a reshaped copy.
    ``kernel="instance"`` is PyTorch's instance-norm path (the reference). No parameters, no
    buffers: checkpoints are the same either way.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels, self.eps, self.kernel = channels, eps, "group"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == "group":
            return F.group_norm(x, self.channels, eps=self.eps)
        return F.instance_norm(x, eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}, kernel={self.kernel}"


def set_norm_kernel(module: nn.Module, kernel: str) -> nn.Module:
    """Select the kernel of every :class:`InstanceNorm` in ``module`` (``group`` or ``instance``)."""
    if kernel not in NORM_KERNELS:
        raise ValueError(f"norm kernel must be one of {NORM_KERNELS}, got {kernel!r}")
    for m in module.modules():
        if isinstance(m, InstanceNorm):
            m.kernel = kernel
    return module


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``instance`` (pix2pixHD's choice for generators: per-image statistics, batch size 1 works),
    ``batch`` or ``none``."""
    if kind == "instance":
        return InstanceNorm(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (instance | batch | none)")


class ResnetBlock(nn.Module):
    """Two 3×3 convolutions with reflection padding and a skip connection; shape-preserving."""

    def __init__(self, channels: int, *, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            norm_layer(norm, channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            norm_layer(norm, channels),
        )

    def forward(self, x):
        return x + self.body(x)


def conv_norm_relu(
    cin: int, cout: int, kernel: int, *, stride: int = 1, norm: str = "instance"
) -> nn.Sequential:
    """Conv (reflection padding for odd stride-1 kernels, zero padding 1 for strided 3×3), norm, ReLU."""
    if stride == 1:
        layers = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel)]
    else:
        layers = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)]
    return nn.Sequential(*layers, norm_layer(norm, cout), nn.ReLU(True))


def up_norm_relu(cin: int, cout: int, *, norm: str = "instance") -> nn.Sequential:
    """Double H and W: nearest-neighbour 2× resize, reflection padding, 3×3 conv, norm, ReLU.

    ``(B, cin, H, W) -> (B, cout, 2H, 2W)``. pix2pixHD uses a stride-2 transposed convolution
    here; its kernel overlaps unevenly (output pixels alternately take 1, 2 or 4 taps), which
    prints a checkerboard on the generated frames. Resizing first and then convolving gives every
    output pixel the same number of taps (Odena et al., "Deconvolution and checkerboard
    artifacts", Distill 2016). Nearest rather than bilinear, as they recommend: bilinear blurs
    before the convolution, which the generator would have to sharpen back. Same parameter count
    as the transposed convolution (``cin·cout·9 + cout``), four times its multiply-adds.
    """
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.ReflectionPad2d(1),
        nn.Conv2d(cin, cout, 3),
        norm_layer(norm, cout),
        nn.ReLU(True),
    )


def to_rgb(cin: int, cout: int = 3) -> nn.Sequential:
    """Final 7×7 convolution to an image in [-1, 1]."""
    return nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(cin, cout, 7), nn.Tanh())
