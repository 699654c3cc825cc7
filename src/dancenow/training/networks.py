"""Every network of a training run, what each stage trains, and their weights by file name.

Stages: ``global`` (the global generator; at half resolution when the model has a local
enhancer), ``local`` (the local enhancer wrapped around the trained global generator, full
resolution), ``face`` (the face residual generator and its discriminator on face crops, the
body generator frozen unless ``optim.finetune_generator``), ``enhance`` (the full-size
enhancer and its discriminator on full-size patches, every generator frozen).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dancenow.models.blocks import set_norm_kernel
from dancenow.models.build import (
    build_discriminators,
    build_enhance_discriminator,
    build_enhancer,
    build_face_discriminator,
    build_face_generator,
    build_global_generator,
    build_local_enhancer,
)
from dancenow.models.generators import LocalEnhancer
from dancenow.runfolder.config import TrainConfig
from dancenow.runfolder.folder import load_into
from dancenow.training.distributed import DistInfo, wrap
from dancenow.training.loss import PairGenerator


class Networks:
    """The generators and discriminators of one run, built from ``cfg.model`` on ``device``.

    The local enhancer and the full-size enhancer are built when a stage first needs them:
    building them earlier would not change the earlier stages, but it would draw random numbers
    the seeded global stage must not see.
    """

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        m = cfg.model
        self.global_g = self._ready(build_global_generator(m))
        self.d = self._ready(build_discriminators(m))
        self.face_g = self._ready(build_face_generator(m)) if m.face else None
        self.face_d = self._ready(build_face_discriminator(m)) if m.face else None
        self.local: LocalEnhancer | None = None
        self.enhancer: nn.Module | None = None  # built by build_enhance(), as the local enhancer
        self.enhance_d: nn.Module | None = None

    def build_enhance(self) -> None:
        """Build the full-size enhancer and its discriminator (once; when the model has them)."""
        if self.cfg.model.enhance and self.enhancer is None:
            self.enhancer = self._ready(build_enhancer(self.cfg.model))
            self.enhance_d = self._ready(build_enhance_discriminator(self.cfg.model))

    def _ready(self, net: nn.Module) -> nn.Module:
        return set_norm_kernel(net.to(self.device), self.cfg.norm_kernel)

    def body(self, stage: str) -> nn.Module:
        """The body generator as trained (and used) in ``stage``."""
        if not self.cfg.model.local or stage == "global":
            return self.global_g
        if self.local is None:
            self.local = self._ready(build_local_enhancer(self.cfg.model, self.global_g))
        return self.local

    def scale(self, stage: str) -> int:
        """The global stage of a model with a local enhancer trains at half resolution."""
        return 2 if (self.cfg.model.local and stage == "global") else 1

    def optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        """Adam for ``g`` (what ``stage`` trains of the generators) and ``d``."""
        o = self.cfg.optim
        kw = {"lr": o.lr, "betas": (o.beta1, o.beta2)}
        if stage == "enhance":
            self.build_enhance()
            return {
                "g": torch.optim.Adam(self.enhancer.parameters(), **kw),
                "d": torch.optim.Adam(self.enhance_d.parameters(), **kw),
            }
        if stage == "face":
            params = list(self.face_g.parameters())
            if o.finetune_generator:
                params += list(self.body(stage).parameters())
            return {
                "g": torch.optim.Adam(params, **kw),
                "d": torch.optim.Adam(self.face_d.parameters(), **kw),
            }
        g = self.body(stage)
        # inside the local enhancer the global generator's to-RGB layer is bypassed (its features
        # feed the local branch): it gets no gradient, so it is left out
        skip = set(map(id, self.global_g.to_rgb.parameters())) if isinstance(g, LocalEnhancer) else set()
        params = [p for p in g.parameters() if id(p) not in skip]
        return {"g": torch.optim.Adam(params, **kw), "d": torch.optim.Adam(self.d.parameters(), **kw)}

    def for_stage(self, stage: str, dist: DistInfo) -> dict[str, nn.Module]:
        """The modules one step of ``stage`` runs (see :mod:`dancenow.training.loss`), in training
        mode, each trainable one DDP-wrapped on its own; optional torch.compile."""
        cfg = self.cfg
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        if stage == "enhance":  # its data were drawn by the frozen generators beforehand
            self.enhancer.train()
            return {
                "enhancer": wrap(self.enhancer.to(memory_format=fmt), dist),
                "enhance_d": wrap(self.enhance_d.to(memory_format=fmt), dist),
            }
        g = self.body(stage)
        train_g = stage != "face" or cfg.optim.finetune_generator
        g.train(train_g)
        g.requires_grad_(train_g)
        if isinstance(g, LocalEnhancer):  # the bypassed layer: DDP must not wait for its gradients
            self.global_g.to_rgb.requires_grad_(False)
        pair = PairGenerator(g, cfg.model.temporal)
        if stage == "face":
            if train_g:
                body = wrap(pair.to(memory_format=fmt), dist)
            else:  # frozen: only ever run forward, like generation
                frozen = torch.channels_last if cfg.frozen_channels_last else fmt
                body = pair.to(memory_format=frozen)
            return {
                "g": body,
                "face_g": wrap(self.face_g.to(memory_format=fmt), dist),
                "face_d": wrap(self.face_d.to(memory_format=fmt), dist),
            }
        body = wrap(pair.to(memory_format=fmt), dist)
        return {
            "g": torch.compile(body) if cfg.compile else body,
            "d": nn.ModuleDict({k: wrap(v.to(memory_format=fmt), dist) for k, v in self.d.items()}),
        }

    def weights(self) -> dict[str, dict[str, torch.Tensor]]:
        """What inference needs, by file name (``RUN/NAME.safetensors``)."""
        w = {"global_generator": self.global_g.state_dict()}
        if self.local is not None:
            w["local_enhancer"] = self.local.local_state_dict()
        if self.face_g is not None:
            w["face_generator"] = self.face_g.state_dict()
        if self.enhancer is not None:
            w["enhancer"] = self.enhancer.state_dict()
        return w

    def all_weights(self) -> dict[str, dict[str, torch.Tensor]]:
        """:meth:`weights` and the discriminators': what resuming needs."""
        w = self.weights()
        w["discriminators"] = self.d.state_dict()
        if self.face_d is not None:
            w["face_discriminator"] = self.face_d.state_dict()
        if self.enhance_d is not None:
            w["enhance_discriminator"] = self.enhance_d.state_dict()
        return w

    def load(self, weights: dict[str, dict[str, torch.Tensor]], folder: Path, stage: str) -> None:
        """Load :meth:`all_weights` as read from ``folder`` when resuming in ``stage``."""
        if "local_enhancer" in weights or (stage != "global" and self.cfg.model.local):
            self.body("local")
        if "enhancer" in weights or stage == "enhance":
            self.build_enhance()
        for name, module in (
            ("global_generator", self.global_g),
            ("local_enhancer", self.local),
            ("discriminators", self.d),
            ("face_generator", self.face_g),
            ("face_discriminator", self.face_d),
            ("enhancer", self.enhancer),
            ("enhance_discriminator", self.enhance_d),
        ):
            if module is not None and name in weights:
                load_into(module, folder / f"{name}.safetensors", weights[name])
