"""Adversarial losses of pix2pixHD / EDN: least-squares GAN and discriminator feature matching.

Discriminator outputs are lists (one per scale) of lists of feature maps; the last map of
each list is the score map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LSGANLoss(nn.Module):
    """Least-squares GAN (Mao et al. 2017): ``mean((D(x) - target)²)`` averaged over scales."""

    def forward(self, outputs: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
        target = 1.0 if real else 0.0
        losses = [
            F.mse_loss(scale[-1].float(), torch.full_like(scale[-1].float(), target)) for scale in outputs
        ]
        return torch.stack(losses).mean()


class FeatureMatchingLoss(nn.Module):
    """pix2pixHD's discriminator feature matching: L1 between D's intermediate features on the
    fake and on the real image (real detached), weighted ``4 / (n_layers + 1) / num_scales``."""

    def forward(
        self, fake_outputs: list[list[torch.Tensor]], real_outputs: list[list[torch.Tensor]]
    ) -> torch.Tensor:
        num_scales = len(fake_outputs)
        total = fake_outputs[0][0].new_zeros((), dtype=torch.float32)
        for fake_scale, real_scale in zip(fake_outputs, real_outputs, strict=True):
            layer_weight = 4.0 / (len(fake_scale) - 1)  # pix2pixHD: 4 / (n_layers + 1); last map is the score
            for fake_f, real_f in zip(fake_scale[:-1], real_scale[:-1], strict=True):
                total = total + layer_weight / num_scales * F.l1_loss(fake_f.float(), real_f.detach().float())
        return total
