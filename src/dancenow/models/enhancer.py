"""The full-size enhancer (issue #23): detail at the output's size, learnt from the target's own
full-size frames.

The body generator draws the person at the training size (192x256 in the ``cpu`` preset) and
the crop is enlarged 2-5x into the video. The enhancer works at the output's size on what that
enlargement gives: the enlarged composite and alpha, the stick figure drawn at full size and the
full-size plate (``IN_CHANNELS``), and predicts a residual for the RGB and the alpha. The frame
is ``alpha' * (composite + residual) + (1 - alpha') * plate``. Its last layer starts at zero, so
an untrained enhancer gives exactly the plain enlargement.

No normalization layer: the enhancer trains on patches and runs on whole windows, and a
per-image statistic (instance norm) would differ between the two. A stride-2 trunk keeps the
cost per output pixel low; the full-resolution head and skip carry the fine detail.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IN_CHANNELS = 10
"""The enlarged composite (3), its enlarged alpha (1), the full-size label (3) and plate (3)."""


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class _Residual(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(_conv(ch, ch), nn.LeakyReLU(0.2, True), _conv(ch, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Enhancer(nn.Module):
    """``(B, IN_CHANNELS, H, W) -> (B, 4, H, W)``: the RGB and alpha residual (any even or odd
    H, W: odd sides are padded inside).

    Head: a 3x3 conv at full resolution (``ngf // 2`` filters); trunk: a stride-2 conv and
    ``n_blocks`` residual blocks at half resolution (``ngf``), up by pixel shuffle, added to the
    head; tail: a zero-initialised 3x3 conv to 4 channels.
    """

    def __init__(self, *, ngf: int = 32, n_blocks: int = 4):
        super().__init__()
        fine = max(4, ngf // 2)
        self.head = nn.Sequential(_conv(IN_CHANNELS, fine), nn.LeakyReLU(0.2, True))
        self.trunk = nn.Sequential(
            _conv(fine, ngf, stride=2),
            nn.LeakyReLU(0.2, True),
            *[_Residual(ngf) for _ in range(n_blocks)],
            _conv(ngf, 4 * fine),
            nn.PixelShuffle(2),
        )
        self.tail = nn.Sequential(nn.LeakyReLU(0.2, True), _conv(fine, 4))
        nn.init.zeros_(self.tail[1].weight)
        nn.init.zeros_(self.tail[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = h % 2, w % 2
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        y = self.head(x)
        y = self.tail(y + self.trunk(y))
        return y[..., :h, :w]


def refine(
    enhancer: nn.Module,
    composite: torch.Tensor,
    alpha: torch.Tensor,
    label: torch.Tensor,
    plate: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The enhanced foreground and alpha.

    Args (all at the output's size, ``(B, C, H, W)``):
        composite: the generated frame enlarged, RGB in ``[-1, 1]``.
        alpha: its alpha enlarged, ``[0, 1]``.
        label: the stick figure drawn at this size, ``[-1, 1]``.
        plate: the background plate at this size, ``[-1, 1]``.

    Returns ``(rgb (B, 3, H, W) in [-1, 1], alpha (B, 1, H, W) in [0, 1])``: laid over the plate
    with that alpha, as :func:`enhance` does and generation's compositor does at the video's size.
    """
    dtype = composite.dtype
    x = torch.cat([composite, alpha.to(dtype) * 2 - 1, label.to(dtype), plate.to(dtype)], dim=1)
    residual = enhancer(x)
    rgb = (composite + residual[:, :3]).clamp(-1, 1)
    return rgb, (alpha.to(residual.dtype) + residual[:, 3:4]).clamp(0, 1)


def enhance(
    enhancer: nn.Module,
    composite: torch.Tensor,
    alpha: torch.Tensor,
    label: torch.Tensor,
    plate: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The enhanced frame ``alpha' * rgb + (1 - alpha') * plate`` and ``alpha'`` (:func:`refine`)."""
    rgb, a = refine(enhancer, composite, alpha, label, plate)
    plate = plate.to(rgb.dtype)
    return plate + a * (rgb - plate), a
