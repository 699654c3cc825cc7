"""PatchGAN discriminators that return their intermediate features (for feature matching)."""

from __future__ import annotations

import torch
from torch import nn

from dancenow.models.blocks import norm_layer
from dancenow.models.generators import downsample2


class PatchDiscriminator(nn.Module):
    """pix2pixHD's N-layer PatchGAN: 4×4 convs, LeakyReLU 0.2, instance norm after the first.

    ``(B, in_channels, H, W)`` -> list of ``n_layers + 2`` feature maps; the last is the
    ``(B, 1, h, w)`` real/fake score map (no sigmoid: LSGAN).
    """

    def __init__(
        self,
        *,
        in_channels: int,  # condition (label) + image channels
        ndf: int = 64,  # filters of the first layer, doubled per layer
        n_layers: int = 3,  # stride-2 layers
        norm: str = "instance",
        max_channels: int = 512,
    ):
        super().__init__()
        layers = [nn.Sequential(nn.Conv2d(in_channels, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True))]
        ch = ndf
        for i in range(1, n_layers + 1):
            nxt = min(ch * 2, max_channels)
            stride = 2 if i < n_layers else 1
            layers.append(
                nn.Sequential(
                    nn.Conv2d(ch, nxt, 4, stride=stride, padding=2),
                    norm_layer(norm, nxt),
                    nn.LeakyReLU(0.2, True),
                )
            )
            ch = nxt
        layers.append(nn.Sequential(nn.Conv2d(ch, 1, 4, stride=1, padding=2)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs on the input at full, 1/2, 1/4, ... resolution.

    Returns one feature list per scale (finest first).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_scales: int = 2,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "instance",
    ):
        super().__init__()
        self.scales = nn.ModuleList(
            PatchDiscriminator(in_channels=in_channels, ndf=ndf, n_layers=n_layers, norm=norm)
            for _ in range(num_scales)
        )

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, d in enumerate(self.scales):
            if i > 0:
                x = downsample2(x)
            outputs.append(d(x))
        return outputs
