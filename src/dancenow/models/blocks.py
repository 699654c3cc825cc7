"""Building blocks shared by the generators and discriminators."""

from __future__ import annotations

from torch import nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``instance`` (pix2pixHD's choice for generators: per-image statistics, batch size 1 works),
    ``batch`` or ``none``."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
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
    """Transposed 3×3 convolution that exactly doubles H and W, norm, ReLU (as in pix2pixHD)."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
        norm_layer(norm, cout),
        nn.ReLU(True),
    )


def to_rgb(cin: int, cout: int = 3) -> nn.Sequential:
    """Final 7×7 convolution to an image in [-1, 1]."""
    return nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(cin, cout, 7), nn.Tanh())
