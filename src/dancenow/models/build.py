"""Config → networks. The only place that reads a :class:`ModelConfig` to build one."""

from __future__ import annotations

from torch import nn

from dancenow.models.composite import OUT_CHANNELS
from dancenow.models.config import ModelConfig
from dancenow.models.discriminators import MultiscaleDiscriminator, PatchDiscriminator
from dancenow.models.enhancer import Enhancer
from dancenow.models.generators import FaceResidualGenerator, GlobalGenerator, LocalEnhancer


def build_global_generator(cfg: ModelConfig) -> GlobalGenerator:
    return GlobalGenerator(
        in_channels=cfg.generator_in_channels,
        out_channels=OUT_CHANNELS,
        ngf=cfg.ngf,
        n_down=cfg.n_down,
        n_blocks=cfg.n_blocks,
        norm=cfg.norm,
        max_channels=cfg.max_channels,
    )


def build_local_enhancer(cfg: ModelConfig, global_generator: GlobalGenerator) -> LocalEnhancer:
    """pix2pixHD's local enhancer wrapped around ``global_generator`` (shared, not copied)."""
    return LocalEnhancer(
        global_generator,
        in_channels=cfg.generator_in_channels,
        out_channels=OUT_CHANNELS,
        ngf=cfg.local_ngf,
        n_blocks=cfg.local_blocks,
        norm=cfg.norm,
    )


def build_generator(cfg: ModelConfig, *, with_local: bool | None = None) -> nn.Module:
    """The body generator: the global generator, wrapped in a local enhancer when ``cfg.local``
    (or ``with_local``) says so."""
    g = build_global_generator(cfg)
    if with_local if with_local is not None else cfg.local:
        g = build_local_enhancer(cfg, g)
    return g


def build_discriminators(cfg: ModelConfig) -> nn.ModuleDict:
    """``spatial`` on (label_t, image_t); ``temporal`` on (label_{t-1}, label_t, image_{t-1}, image_t)."""
    c = cfg.label_channels + 3
    ds = {
        "spatial": MultiscaleDiscriminator(
            in_channels=c, num_scales=cfg.d_scales, ndf=cfg.ndf, n_layers=cfg.d_layers, norm=cfg.norm
        )
    }
    if cfg.temporal:
        ds["temporal"] = MultiscaleDiscriminator(
            in_channels=2 * c, num_scales=cfg.d_scales, ndf=cfg.ndf, n_layers=cfg.d_layers, norm=cfg.norm
        )
    return nn.ModuleDict(ds)


def build_face_generator(cfg: ModelConfig) -> FaceResidualGenerator:
    return FaceResidualGenerator(
        ngf=cfg.face_ngf, n_down=cfg.face_down, n_blocks=cfg.face_blocks, norm=cfg.norm
    )


def build_face_discriminator(cfg: ModelConfig) -> PatchDiscriminator:
    """PatchGAN on (label crop, face crop)."""
    return PatchDiscriminator(
        in_channels=cfg.label_channels + 3, ndf=cfg.face_ndf, n_layers=cfg.face_d_layers, norm=cfg.norm
    )


def build_enhancer(cfg: ModelConfig) -> Enhancer:
    return Enhancer(ngf=cfg.enhance_ngf, n_blocks=cfg.enhance_blocks)


def build_enhance_discriminator(cfg: ModelConfig) -> MultiscaleDiscriminator:
    """Two-scale PatchGAN on (full-size label patch, image patch)."""
    return MultiscaleDiscriminator(
        in_channels=cfg.label_channels + 3,
        num_scales=2,
        ndf=cfg.enhance_ndf,
        n_layers=cfg.enhance_d_layers,
        norm=cfg.norm,
    )
