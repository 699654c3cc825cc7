"""Shift-tolerant LPIPS (Ghildyal & Liu, ECCV 2022): an offline perceptual distance.

LPIPS (Zhang et al. 2018) compares two images by their deep features: each layer's activations
are unit-normalized along channels, the squared differences are weighted per channel by a
learned 1×1 convolution, averaged over space and summed over layers. 0 means identical; larger
is more different. The shift-tolerant variant's AlexNet trunk convolves at stride 1 and
downsamples with a reflect-padded [1, 2, 1] ⊗ [1, 2, 1] blur (anti-aliased, Zhang 2019), so a
shift of a pixel or two barely moves the features, while blur and wrong structure still do.

Its weights (trunk and linear heads, trained by the authors) ship inside the PyPI wheel
``stlpips-pytorch`` (BSD-2-Clause), so the metric works offline. Only the wheel's weight file is
read, with ``torch.load(weights_only=True)``; the network is built here, because the package's
own modules import IPython, torchsummary and torchvision (and the wheel's anti-aliasing module,
``models_lpf/downsample.py``, carries Adobe's CC BY-NC-SA 4.0 notice: nothing of it is imported
or copied; the [1, 2, 1] blur is the textbook binomial filter). ``tests/evaluation/test_stlpips.py``
checks the layout against the wheel's file key by key and the values against the wheel's own
``LPIPS(net="alex", variant="shift_tolerant")`` on the same inputs.

The numbers are **not** the published LPIPS (the paper's 0.031 is AlexNet LPIPS v0.1 at
1024×512): another trunk, other weights, our crops. Reports call it ``stlpips_alex``.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dancenow.errors import InputError

PACKAGE = "stlpips-pytorch"
NAME = "stlpips_alex"
CHANNELS = (64, 192, 384, 256, 256)  # the five AlexNet stages whose features are compared
MIN_SIDE = 64  # crops are upsampled to at least this so every stage keeps a few pixels


class _BlurDownsample(nn.Module):
    """Reflect-pad by 2, blur with the normalized [1, 2, 1] ⊗ [1, 2, 1] kernel, keep every 2nd pixel."""

    def __init__(self, channels: int):
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        k = a[:, None] * a[None, :]
        self.register_buffer("filt", (k / k.sum())[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class ShiftTolerantAlexLPIPS(nn.Module):
    """``forward(a, b)``: two ``(B, 3, H, W)`` RGB batches in [-1, 1] -> ``(B,)`` distances ≥ 0.

    H and W must be at least about 24 (use :func:`stlpips_distance` for arbitrary crops).
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None])
        relu = nn.ReLU()
        pool = nn.MaxPool2d(kernel_size=3, stride=1)
        self.stages = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(3, 64, 11, stride=1, padding=2), _BlurDownsample(64), relu),
                nn.Sequential(pool, _BlurDownsample(64), nn.Conv2d(64, 192, 5, padding=2), relu),
                nn.Sequential(pool, _BlurDownsample(192), nn.Conv2d(192, 384, 3, padding=1), relu),
                nn.Sequential(nn.Conv2d(384, 256, 3, padding=1), relu),
                nn.Sequential(nn.Conv2d(256, 256, 3, padding=1), relu),
            ]
        )
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.shift) / self.scale
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(a.shape[0], device=a.device)
        for fa, fb, lin in zip(self.features(a), self.features(b), self.lins, strict=True):
            total = total + lin((fa - fb) ** 2).mean(dim=(1, 2, 3))
        return total


# wheel's key -> ours (the wheel keeps torchvision's Sequential indices and a Dropout slot in the heads)
_KEY_MAP = {
    "scaling_layer.shift": "shift",
    "scaling_layer.scale": "scale",
    "net.slice1.0.weight": "stages.0.0.weight",
    "net.slice1.0.bias": "stages.0.0.bias",
    "net.slice1.1.filt": "stages.0.1.filt",
    "net.slice2.4.filt": "stages.1.1.filt",
    "net.slice2.5.weight": "stages.1.2.weight",
    "net.slice2.5.bias": "stages.1.2.bias",
    "net.slice3.8.filt": "stages.2.1.filt",
    "net.slice3.9.weight": "stages.2.2.weight",
    "net.slice3.9.bias": "stages.2.2.bias",
    "net.slice4.11.weight": "stages.3.0.weight",
    "net.slice4.11.bias": "stages.3.0.bias",
    "net.slice5.13.weight": "stages.4.0.weight",
    "net.slice5.13.bias": "stages.4.0.bias",
    **{f"lin{i}.model.1.weight": f"lins.{i}.weight" for i in range(5)},
}


def weights_path() -> Path:
    """The AlexNet weight file inside the installed ``stlpips-pytorch`` wheel (found without
    importing the package's modules)."""
    spec = importlib.util.find_spec("stlpips_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(None, f"the perceptual distance needs `pip install {PACKAGE}==0.0.2`")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights/vST0.0/alex_shift_tolerant.pth"
    if not path.is_file():
        raise InputError(path, f"missing from the {PACKAGE} install (reinstall it)")
    return path


@lru_cache(maxsize=4)
def load_stlpips(device: str = "cpu") -> ShiftTolerantAlexLPIPS:
    """The metric network with the wheel's weights, in eval mode, without gradients."""
    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unpickling failure means an unusable file)
        raise InputError(path, f"cannot be read as plain tensors ({str(e)[:160]})") from None
    if set(state) != set(_KEY_MAP):
        raise InputError(path, f"unexpected layout: keys {sorted(set(state) ^ set(_KEY_MAP))[:6]}")
    net = ShiftTolerantAlexLPIPS()
    net.load_state_dict({_KEY_MAP[k]: v for k, v in state.items()}, strict=True)
    net.requires_grad_(False)
    return net.eval().to(device, memory_format=torch.channels_last)


def to_tensor(image: np.ndarray, min_side: int = MIN_SIDE) -> torch.Tensor:
    """``(h, w, 3)`` uint8 RGB -> ``(1, 3, H, W)`` float in [-1, 1], upsampled (bilinear) so the
    shorter side is at least ``min_side``."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    short = min(x.shape[2:])
    if short < min_side:
        size = [max(min_side, round(s * min_side / short)) for s in x.shape[2:]]
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x


@torch.inference_mode()
def stlpips_distance(a: np.ndarray, b: np.ndarray, device: str = "cpu") -> float:
    """Shift-tolerant LPIPS (AlexNet) between two same-size ``(h, w, 3)`` uint8 RGB images.

    Always fp32, so a figure is the same on every machine. The stride-1 trunk costs about
    4.5 GFLOP for a pair of 236x68 body boxes (counted with torch.utils.flop_counter).
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim != 3 or a.shape[2] != 3 or min(a.shape[:2]) < 2:
        raise ValueError(f"need (h, w, 3) images of at least 2x2 pixels, got {a.shape}")
    net = load_stlpips(str(device))
    x, y = (to_tensor(i).to(device).contiguous(memory_format=torch.channels_last) for i in (a, b))
    return float(net(x, y)[0])
