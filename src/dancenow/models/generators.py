"""pix2pixHD generators (Wang et al. 2018) as used by Everybody Dance Now.

Temporal smoothing (EDN §3.3) needs nothing special here: the generator's input is
``concat(label_t, previous_frame)``, so ``in_channels = 3 + 3``, where the previous frame is
the previous output composited over the background plate (:mod:`dancenow.models.composite`);
appearance conditioning adds 4 more channels (:func:`generator_input`).
The body generator outputs 4 channels (foreground RGB + alpha); the face generator 3.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dancenow.models.blocks import ResnetBlock, conv_norm_relu, to_rgb, up_norm_relu


def generator_input(
    label: torch.Tensor,
    previous: torch.Tensor | None,
    appearance: torch.Tensor | None = None,
    *,
    temporal: bool = True,
) -> torch.Tensor:
    """The body generator's input, built in this one place for training and generation:
    ``concat(label_t, previous output, appearance)``.

    Args:
        label: ``(B, 3, H, W)`` stick figure.
        previous: ``(B, 3, H, W)`` the previous composited frame; None before the first frame
            (zeros). Left out without temporal smoothing (``temporal`` False).
        appearance: ``(B, 4, H, W)`` texture from the target's own frames (RGB in ``[-1, 1]``
            and its valid map), or None when the model has none.

    Returns ``(B, 3 + 3·temporal + 4·(appearance given), H, W)``.
    """
    parts = [label]
    if temporal:
        parts.append(torch.zeros_like(label[:, :3]) if previous is None else previous.to(label.dtype))
    if appearance is not None:
        parts.append(appearance.to(label.dtype))
    return torch.cat(parts, dim=1) if len(parts) > 1 else label


def crop_boxes(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` and ``(B, 4)`` boxes ``(x0, y0, x1, y1)`` of equal size -> ``(B, C, S, S)``."""
    return torch.stack(
        [img[:, int(b[1]) : int(b[3]), int(b[0]) : int(b[2])] for img, b in zip(images, boxes, strict=True)]
    )


def downsample2(x: torch.Tensor) -> torch.Tensor:
    """Halve H and W with 3×3 average pooling, as pix2pixHD feeds its global generator."""
    return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)


class GlobalGenerator(nn.Module):
    """pix2pixHD's global generator: 7×7 conv, ``n_down`` stride-2 convs, residual blocks,
    ``n_down`` upsampling layers (2× resize + 3×3 conv), 7×7 conv + tanh.

    ``(B, in_channels, H, W) -> (B, out_channels, H, W)`` in [-1, 1]; H and W must be
    multiples of ``2 ** n_down``. ``features`` is everything before the last convolution, so
    the local enhancer can reuse a trained global generator without slicing layers by index.
    """

    def __init__(
        self,
        *,
        in_channels: int,  # label channels (+ previous-frame channels for temporal smoothing)
        out_channels: int = 3,  # RGB
        ngf: int = 64,  # filters of the first layer; doubled at each downsampling
        n_down: int = 4,  # stride-2 convolutions (pix2pixHD: 4 for the global generator)
        n_blocks: int = 9,  # residual blocks at the bottleneck
        norm: str = "instance",
        max_channels: int = 1024,  # cap on filters (pix2pixHD's 64·2⁴ = 1024)
    ):
        super().__init__()
        self.n_down = n_down
        ch = [min(ngf * 2**i, max_channels) for i in range(n_down + 1)]
        layers: list[nn.Module] = [conv_norm_relu(in_channels, ch[0], 7, norm=norm)]
        layers += [conv_norm_relu(ch[i], ch[i + 1], 3, stride=2, norm=norm) for i in range(n_down)]
        layers += [ResnetBlock(ch[-1], norm=norm) for _ in range(n_blocks)]
        layers += [up_norm_relu(ch[i + 1], ch[i], norm=norm) for i in reversed(range(n_down))]
        self.features = nn.Sequential(*layers)
        self.to_rgb = to_rgb(ch[0], out_channels)
        self.feature_channels = ch[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(self.features(x))


class LocalEnhancer(nn.Module):
    """pix2pixHD's local enhancer: doubles the resolution of a (trained) global generator.

    The full-resolution input goes through a 7×7 conv and one stride-2 conv; the global
    generator's *features* (before its to-RGB layer) on the 2×-downsampled input are added;
    residual blocks and an upsampling layer bring it back to full resolution.
    ``(B, in_channels, H, W) -> (B, out_channels, H, W)``; H, W multiples of ``2 ** (n_down + 1)``.
    """

    def __init__(
        self,
        global_generator: GlobalGenerator,
        *,
        in_channels: int,
        out_channels: int = 3,
        ngf: int = 32,  # local filters; 2·ngf must equal the global generator's first-layer filters
        n_blocks: int = 3,  # residual blocks of the local branch (pix2pixHD: 3)
        norm: str = "instance",
    ):
        super().__init__()
        if global_generator.feature_channels != 2 * ngf:
            raise ValueError(
                f"local ngf {ngf} needs a global generator with {2 * ngf} first-layer filters, "
                f"got {global_generator.feature_channels}"
            )
        self.global_generator = global_generator
        self.n_down = global_generator.n_down + 1
        self.down = nn.Sequential(
            conv_norm_relu(in_channels, ngf, 7, norm=norm),
            conv_norm_relu(ngf, 2 * ngf, 3, stride=2, norm=norm),
        )
        self.up = nn.Sequential(
            *[ResnetBlock(2 * ngf, norm=norm) for _ in range(n_blocks)],
            up_norm_relu(2 * ngf, ngf, norm=norm),
        )
        self.to_rgb = to_rgb(ngf, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coarse = self.global_generator.features(downsample2(x))
        return self.to_rgb(self.up(self.down(x) + coarse))

    def local_state_dict(self) -> dict[str, torch.Tensor]:
        """The enhancer's own weights (without the wrapped global generator's)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("global_generator.")}

    def load_local_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load the enhancer's own weights; ``RuntimeError`` when keys or shapes do not match."""
        expected = set(self.local_state_dict())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise RuntimeError(f"missing keys {missing[:3]}, unexpected keys {unexpected[:3]}")
        self.load_state_dict({**self.state_dict(), **state}, strict=True)


class FaceResidualGenerator(nn.Module):
    """EDN's face GAN generator: predicts a residual for the body generator's face crop.

    ``(label_crop, generated_crop)`` each ``(B, 3, S, S)`` -> residual ``(B, 3, S, S)``; the
    refined face is ``generated_crop + residual``. S must be a multiple of ``2 ** n_down``.
    The last layer starts at zero so that, before training, the face GAN changes nothing.
    """

    def __init__(self, *, ngf: int = 32, n_down: int = 2, n_blocks: int = 5, norm: str = "instance"):
        super().__init__()
        self.net = GlobalGenerator(
            in_channels=6, out_channels=3, ngf=ngf, n_down=n_down, n_blocks=n_blocks, norm=norm
        )
        last_conv = self.net.to_rgb[1]
        nn.init.zeros_(last_conv.weight)
        nn.init.zeros_(last_conv.bias)

    def forward(self, label_crop: torch.Tensor, generated_crop: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([label_crop, generated_crop], dim=1))

    def refine(self, label: torch.Tensor, frame: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Whole frames ``(B, 3, H, W)`` with the residual added inside each ``(B, 4)`` face box."""
        residual = self(crop_boxes(label, boxes), crop_boxes(frame, boxes))
        out = frame.clone()
        for b, box in enumerate(boxes):
            x0, y0, x1, y1 = (int(v) for v in box)
            out[b, :, y0:y1, x0:x1] = out[b, :, y0:y1, x0:x1] + residual[b]
        return out
