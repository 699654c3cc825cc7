"""The explicit training loop of EDN: pix2pixHD with temporal smoothing, then the face GAN.

One step on a batch of frame pairs ``(t-1, t)``:

1. **G forward**: ``fake_{t-1} = G(label_{t-1}, 0)``, ``fake_t = G(label_t, fake_{t-1})`` — the
   second frame conditioned on the first, *not detached* (EDN §3.3).
2. **D losses**: the spatial multi-scale PatchGAN on (label, image) of both frames, the
   temporal one on (label_{t-1}, label_t, image_{t-1}, image_t), real vs generated; LSGAN.
3. **G losses**: LSGAN + λ_FM·feature matching (spatial and temporal) + λ_P·perceptual.

By default (``fused_step``), as in pix2pixHD, both come from the same (not yet updated) D: each
D runs on real and detached generated frames for its own losses and on the generated frames for
G's, and G and D are each updated from their own losses. The reference (``fused_step: false``)
runs a D step on detached fakes, then a G step with D frozen that runs D again on real and
generated frames.

Stages: ``global`` (the global generator; at half resolution when the model has a local
enhancer), ``local`` (the local enhancer wrapped around the trained global generator, full
resolution), ``face`` (the face residual generator and its discriminator on face crops, the
body generator frozen unless ``optim.finetune_generator``).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Sampler

from dancenow.data.dataset import FrameDataset, PairDataset, load_dataset_info, tensor_to_image
from dancenow.errors import InputError
from dancenow.losses.gan import FeatureMatchingLoss, LSGANLoss
from dancenow.losses.perceptual import PerceptualLoss, resolve_perceptual
from dancenow.models.blocks import set_norm_kernel
from dancenow.models.build import (
    build_discriminators,
    build_face_discriminator,
    build_face_generator,
    build_global_generator,
)
from dancenow.models.generators import GlobalGenerator, LocalEnhancer, crop_boxes, downsample2, temporal_input
from dancenow.training import checkpoint as ckpt
from dancenow.training.config import STAGES, TrainConfig
from dancenow.training.distributed import DistInfo, all_reduce_mean, broadcast_flag
from dancenow.utils import runlock
from dancenow.utils.atomic import write_json
from dancenow.utils.precision import resolve_precision
from dancenow.utils.progress import progress as progress_bar

log = logging.getLogger(__name__)


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was written."""


class NonFiniteLoss(RuntimeError):
    """A loss became NaN/Inf; the weights were not updated with it."""


# --------------------------------------------------------------------------- small helpers
def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch, sharded across ranks, that can start mid-epoch (exact resume)."""

    def __init__(self, n: int, *, seed: int, rank: int = 0, world_size: int = 1):
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.epoch, self.offset = 0, 0
        self.per_rank = math.ceil(n / world_size)

    def set_position(self, epoch: int, offset: int) -> None:
        self.epoch, self.offset = epoch, offset

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        perm += perm[: self.per_rank * self.world_size - self.n]  # pad so every rank gets as many
        mine = perm[self.rank :: self.world_size]
        return iter(mine[self.offset :])

    def __len__(self) -> int:
        return self.per_rank - self.offset


class PairGenerator(nn.Module):
    """Both frames of a temporal pair in one ``forward``: DDP allows one forward per backward.

    ``(label_prev, label)`` each ``(B, 3, H, W)`` -> ``(fake_prev, fake)``; the second frame is
    conditioned on the first, not detached (EDN §3.3). Without temporal smoothing both frames
    are generated independently.
    """

    def __init__(self, generator: nn.Module, temporal: bool):
        super().__init__()
        self.generator, self.temporal = generator, temporal

    def forward(self, label_prev: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.temporal:
            return self.generator(label_prev), self.generator(label)
        fake_prev = self.generator(temporal_input(label_prev, None))
        return fake_prev, self.generator(temporal_input(label, fake_prev))


@dataclass
class StagePlan:
    """How long a stage runs: a fixed number of steps, or a wall-clock budget."""

    steps: int | None  # planned steps (the learning rate decays to 0 at the end), or None
    seconds: float | None  # wall-clock budget, or None

    def progress(self, step: int, elapsed: float) -> float:
        parts = []
        if self.steps:
            parts.append(step / self.steps)
        if self.seconds:
            parts.append(elapsed / self.seconds)
        return max(parts) if parts else 0.0


# --------------------------------------------------------------------------- the trainer
class Trainer:
    """Holds the networks, losses and optimizers of one run and trains stage by stage."""

    def __init__(
        self,
        cfg: TrainConfig,
        dataset_dir: str | Path,
        run_dir: str | Path,
        dist: DistInfo,
        *,
        progress: bool = True,
        allow_download: bool = False,
    ):
        self.cfg, self.dist, self.show_progress = cfg, dist, progress
        self.dataset_dir, self.run = Path(dataset_dir), Path(run_dir)
        if dist.is_main:
            self.run.mkdir(parents=True, exist_ok=True)
        self.device = dist.device
        self.data = load_dataset_info(self.dataset_dir)
        m = cfg.model
        for side, name in ((self.data.width, "width"), (self.data.height, "height")):
            if side % m.size_multiple or side < 2 * m.size_multiple:
                raise InputError(
                    self.dataset_dir,
                    f"frame {name} {side} must be a multiple of {m.size_multiple} and at least "
                    f"{2 * m.size_multiple} for preset {cfg.preset!r}; run `dancenow prepare --size` again",
                )
        if m.face and self.data.face_size % (2**m.face_down):
            raise InputError(
                self.dataset_dir, f"face size {self.data.face_size} must be a multiple of {2**m.face_down}"
            )
        torch.manual_seed(cfg.seed)
        self.global_g = build_global_generator(m).to(self.device)
        self.local: LocalEnhancer | None = None
        self.d = build_discriminators(m).to(self.device)
        self.face_g = build_face_generator(m).to(self.device) if m.face else None
        self.face_d = build_face_discriminator(m).to(self.device) if m.face else None
        for net in (self.global_g, self.d, self.face_g, self.face_d):
            if net is not None:
                set_norm_kernel(net, cfg.norm_kernel)
        self.perceptual_name = resolve_perceptual(
            cfg.loss.perceptual, vgg_weights=cfg.loss.vgg_weights, allow_download=allow_download
        )
        self.perceptual = PerceptualLoss(
            self.perceptual_name, vgg_weights=cfg.loss.vgg_weights, allow_download=allow_download
        ).to(self.device)
        self.gan_loss, self.fm_loss = LSGANLoss(), FeatureMatchingLoss()
        self.amp_dtype = resolve_precision(cfg.precision, self.device)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        # the face stage's frozen body generator
        self.frozen_format = torch.channels_last if cfg.frozen_channels_last else self.memory_format
        self.completed: list[str] = []
        self.stage_state: dict | None = None  # set when resuming mid-stage
        self.interrupted = False
        self.metrics_file = self.run / "metrics.jsonl"
        self.writer = None
        self._sample_frames: FrameDataset | None = None

    # ------------------------------------------------------------------ generator per stage
    def generator(self, stage: str) -> nn.Module:
        """The body generator as trained (and used) in ``stage``."""
        if self.cfg.model.local and stage != "global":
            if self.local is None:
                m = self.cfg.model
                self.local = LocalEnhancer(
                    self.global_g,
                    in_channels=m.generator_in_channels,
                    ngf=m.local_ngf,
                    n_blocks=m.local_blocks,
                    norm=m.norm,
                ).to(self.device)
                set_norm_kernel(self.local, self.cfg.norm_kernel)
            return self.local
        return self.global_g

    def stage_scale(self, stage: str) -> int:
        """The global stage of a model with a local enhancer trains at half resolution."""
        return 2 if (self.cfg.model.local and stage == "global") else 1

    def stages(self, which: str) -> list[str]:
        wanted = list(STAGES) if which == "all" else [which]
        out = []
        for s in wanted:
            if s == "local" and not self.cfg.model.local:
                if which == "local":
                    raise InputError(
                        None, f"preset {self.cfg.preset!r} has no local enhancer (model.local is false)"
                    )
                continue
            if s == "face" and not self.cfg.model.face:
                if which == "face":
                    raise InputError(
                        None, f"preset {self.cfg.preset!r} has no face GAN (model.face is false)"
                    )
                continue
            out.append(s)
        return out

    # ------------------------------------------------------------------ state I/O
    def weights(self) -> dict[str, dict[str, torch.Tensor]]:
        w = {"global_generator": self.global_g.state_dict()}
        if self.local is not None:
            w["local_enhancer"] = self.local.local_state_dict()
        if self.face_g is not None:
            w["face_generator"] = self.face_g.state_dict()
        return w

    def all_weights(self) -> dict[str, dict[str, torch.Tensor]]:
        w = self.weights()
        w["discriminators"] = self.d.state_dict()
        if self.face_d is not None:
            w["face_discriminator"] = self.face_d.state_dict()
        return w

    def write_config(self) -> None:
        data = {
            "dancenow_config_version": 1,
            "train": self.cfg.to_dict(),
            "perceptual_resolved": self.perceptual_name,
            "data": {
                "dataset": str(self.dataset_dir.resolve()),
                "source_video": str(self.data.source_video),
                "size": list(self.data.size),
                "face_size": self.data.face_size,
                "crop": list(self.data.crop),
                "source_size": list(self.data.source_size),
                "fps": self.data.fps,
                "full_frame": self.data.full_frame,
            },
            "completed_stages": self.completed,
        }
        write_json(self.run / "config.json", data)

    def save(
        self, stage: str, step: int, elapsed: float, epoch: int, offset: int, plan: StagePlan, opt
    ) -> None:
        """Write the inference weights and a complete resume checkpoint (rank 0 only)."""
        if not self.dist.is_main:
            return
        # A finite loss can still end in NaN weights (an overflowing gradient); never let such
        # weights replace the last good checkpoint or the inference weights.
        poisoned = [
            name
            for name, sd in self.all_weights().items()
            if any(v.is_floating_point() and not torch.isfinite(v).all() for v in sd.values())
        ]
        if poisoned:
            raise NonFiniteLoss(
                f"stage {stage}, step {step}: {', '.join(poisoned)} weights became NaN/Inf; not saved"
            )
        with runlock.writing(self.run):  # a reader loading the run gets all of this save or none
            self.write_config()
            for name, sd in self.weights().items():
                ckpt.save_weights(self.run / f"{name}.safetensors", sd)
        state = {
            "stage": stage,
            "step": step,
            "elapsed": elapsed,
            "epoch": epoch,
            "offset": offset,
            "plan_steps": plan.steps if plan.steps is not None else -1,
            "plan_seconds": plan.seconds if plan.seconds is not None else -1.0,
            "completed": list(self.completed),
            "optimizers": {k: o.state_dict() for k, o in opt.items()},
            "torch_rng": torch.get_rng_state(),
        }
        ckpt.save_checkpoint(self.run, self.all_weights(), state)

    def load(self) -> None:
        """Resume: load weights and state written by :meth:`save`."""
        weights, state = ckpt.load_checkpoint(self.run)  # the state's fields are checked there
        self.completed = list(state["completed"])
        if "local_enhancer" in weights or state["stage"] in ("local", "face") and self.cfg.model.local:
            self.generator("local")
        for name, module in (
            ("global_generator", self.global_g),
            ("discriminators", self.d),
            ("face_generator", self.face_g),
            ("face_discriminator", self.face_d),
        ):
            if module is not None and name in weights:
                _load_strict(module, weights[name], self.run / "checkpoint" / f"{name}.safetensors")
        if self.local is not None and "local_enhancer" in weights:
            try:
                self.local.load_local_state_dict(weights["local_enhancer"])
            except RuntimeError as e:
                path = self.run / "checkpoint/local_enhancer.safetensors"
                raise InputError(path, f"weights do not match config.json ({str(e)[:200]})") from None
        self.stage_state = state
        try:
            torch.set_rng_state(state["torch_rng"])
        except RuntimeError as e:
            raise InputError(self.run / "checkpoint/training_state.pt", f"bad torch_rng ({e})") from None

    # ------------------------------------------------------------------ logging
    def log_metrics(self, record: dict) -> None:
        if not self.dist.is_main:
            return
        with open(self.metrics_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run / "tensorboard"))
        for k, v in record.items():
            if isinstance(v, (int, float)) and k not in ("step", "global_step"):
                self.writer.add_scalar(f"{record['stage']}/{k}", v, record["global_step"])

    @torch.no_grad()
    def sample_grid(self, stage: str, global_step: int, frames: int = 4) -> Path | None:
        """Rows of label | generated | real for consecutive held-out frames (temporal feedback on)."""
        if not self.dist.is_main:
            return None
        if self._sample_frames is None:  # opened once: its label cache then serves every later grid
            start, stop = self.data.split_range("val")
            self._sample_frames = FrameDataset(self.dataset_dir, "val" if stop > start else "train")
        ds = self._sample_frames
        g = self.generator(stage)
        was_training = g.training
        g.eval()
        scale = self.stage_scale(stage)
        prev, rows = None, []
        for i in range(min(frames, len(ds))):
            item = ds[i]
            label = item["label"][None].to(self.device)
            real = item["image"][None].to(self.device)
            if scale > 1:
                label, real = downsample2(label), downsample2(real)
            with self.autocast():
                fake = self.generate(g, label, prev)
                if stage == "face" and self.face_g is not None:
                    fake = self.face_g.refine(label, fake, item["face_box"][None])
            prev = fake.float()
            rows.append(torch.cat([label, fake.float().clamp(-1, 1), real], dim=3)[0])
        g.train(was_training)
        grid = tensor_to_image(torch.cat(rows, dim=1))
        out = self.run / "samples" / f"{stage}_{global_step:07d}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        import cv2

        cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        if self.writer is not None:
            self.writer.add_image(f"{stage}/label|generated|real", grid, global_step, dataformats="HWC")
        return out

    # ------------------------------------------------------------------ forward helpers
    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def generate(self, g: nn.Module, label: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
        """One frame: ``G(concat(label, previous output))`` (zeros before the first frame)."""
        return g(temporal_input(label, prev)) if self.cfg.model.temporal else g(label)

    def batch_to(self, batch: dict, scale: int) -> dict:
        out = {}
        for k, v in batch.items():
            v = v.to(self.device, non_blocking=True)
            if v.ndim == 4:
                if scale > 1:
                    v = downsample2(v)
                v = v.contiguous(memory_format=self.memory_format)
            out[k] = v
        return out

    def perceptual_loss(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The perceptual term; face crops under 32 px (low resolutions) are enlarged to the 32 px
        the feature networks need (PerceptualLoss refuses smaller inputs)."""
        if self.cfg.loss.lambda_perceptual == 0:
            return fake.new_zeros((), dtype=torch.float32)
        side = min(fake.shape[-2:])
        if side < 32:  # small face crops (low resolutions): the feature networks need 32 px
            size = [round(s * 32 / side) for s in fake.shape[-2:]]
            fake = torch.nn.functional.interpolate(fake, size=size, mode="bilinear", align_corners=False)
            real = torch.nn.functional.interpolate(real, size=size, mode="bilinear", align_corners=False)
        return self.perceptual(fake, real)

    # ------------------------------------------------------------------ one step
    def body_step(self, batch: dict, g: nn.Module, d: nn.ModuleDict, opt_g, opt_d) -> dict[str, float]:
        """One EDN step on frame pairs: G forward, then :meth:`fused_step` (default) or, with
        ``fused_step: false`` (the reference), a D step on detached fakes and a G step with D frozen."""
        fakes = self.forward_pair(g, batch)
        if self.cfg.fused_step:
            losses = self.fused_step(batch, fakes, d, opt_g, opt_d)
        else:
            losses = self.d_step(batch, fakes, d, opt_d)
            losses |= self.g_step(batch, fakes, d, opt_g)
        return {k: float(all_reduce_mean(v.detach().float(), self.dist)) for k, v in losses.items()}

    def fused_step(self, batch: dict, fakes, d: nn.ModuleDict, opt_g, opt_d) -> dict[str, torch.Tensor]:
        """pix2pixHD's own update: G and D are both updated from losses computed with the same (not
        yet updated) D. Each D runs once on ``[real; generated.detach()]`` for the D losses (and the
        real features feature matching needs), and once more on the generated frames alone for G's
        adversarial and feature-matching losses. The reference (:meth:`d_step` + :meth:`g_step`)
        runs D on the real frames a second time, after D's update.

        Each backward pass is restricted to its own network's parameters (``inputs=``), and D's
        inputs in its own loss are detached, so no backward computes a gradient nobody uses: the D
        loss computes D's weight gradients only, the G loss D's input gradients for the generated
        frames only. (One D call on ``[real; generated]`` for both losses saves a forward of the
        generated half but computes input gradients for the real half, which on a CPU costs more
        than the forward it saves.)
        """
        set_requires_grad(d, True)
        with self.autocast():
            s_real, s_fake_d, t_real, t_fake_d = self.discriminate(d, batch, *(f.detach() for f in fakes))
            s_fake, t_fake = self.judge_generated(d, batch, fakes)
            losses = self.d_losses(s_real, s_fake_d, t_real, t_fake_d)
            losses |= self.g_losses(s_real, s_fake, t_real, t_fake, batch, fakes)
        d_total, g_total = losses["d_total"], losses["g_total"]
        _check_finite(d_total, "discriminator loss")
        _check_finite(g_total, "generator loss")
        g_params = [p for group in opt_g.param_groups for p in group["params"] if p.requires_grad]
        d_params = [p for group in opt_d.param_groups for p in group["params"]]
        opt_g.zero_grad(set_to_none=True)
        opt_d.zero_grad(set_to_none=True)
        torch.autograd.backward(g_total, inputs=g_params)
        torch.autograd.backward(d_total, inputs=d_params)
        opt_g.step()
        opt_d.step()
        return losses

    def forward_pair(self, g: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """``fake_{t-1} = G(label_{t-1}, 0)``, ``fake_t = G(label_t, fake_{t-1})`` (not detached, EDN §3.3).

        ``g`` is a :class:`PairGenerator` (possibly DDP-wrapped) or a bare generator.
        """
        if isinstance(g, (GlobalGenerator, LocalEnhancer)):  # a bare generator: pair it up
            g = PairGenerator(g, self.cfg.model.temporal)
        with self.autocast():
            return g(batch["label_prev"], batch["label"])

    def discriminate(self, d: nn.ModuleDict, batch: dict, fake_p: torch.Tensor, fake: torch.Tensor):
        """Each D on ``[real; generated]`` in one call (one forward per backward, as DDP requires;
        instance norm keeps the samples independent). Returns ``(s_real, s_fake, t_real, t_fake)``,
        the temporal pair ``None`` without temporal smoothing."""
        lp, l, ip, i = batch["label_prev"], batch["label"], batch["image_prev"], batch["image"]
        labels, n = torch.cat([lp, l]), 2 * lp.shape[0]
        s_in = torch.cat([torch.cat([labels, labels]), torch.cat([ip, i, fake_p, fake])], 1)
        s_real, s_fake = _split(d["spatial"](s_in), n)
        if not self.cfg.model.temporal:
            return s_real, s_fake, None, None
        t_in = [torch.cat([lp, lp]), torch.cat([l, l]), torch.cat([ip, fake_p]), torch.cat([i, fake])]
        t_real, t_fake = _split(d["temporal"](torch.cat(t_in, 1)), n // 2)
        return s_real, s_fake, t_real, t_fake

    def judge_generated(self, d: nn.ModuleDict, batch: dict, fakes) -> tuple[list, list | None]:
        """Each D on the generated frames alone, through the unwrapped module (DDP then waits for no
        D gradient from this call). Returns ``(s_fake, t_fake)``, ``t_fake`` ``None`` without
        temporal smoothing."""
        lp, l = batch["label_prev"], batch["label"]
        fake_p, fake = fakes
        dm = {k: _unwrapped(v) for k, v in d.items()}
        s_fake = dm["spatial"](torch.cat([torch.cat([lp, l]), torch.cat([fake_p, fake])], 1))
        t_fake = dm["temporal"](torch.cat([lp, l, fake_p, fake], 1)) if self.cfg.model.temporal else None
        return s_fake, t_fake

    def d_losses(self, s_real, s_fake, t_real, t_fake) -> dict[str, torch.Tensor]:
        """LSGAN losses of the spatial and temporal D (real → 1, generated → 0) and their total."""
        losses = {"d_spatial": 0.5 * (self.gan_loss(s_real, True) + self.gan_loss(s_fake, False))}
        losses["d_total"] = losses["d_spatial"]
        if t_real is not None:
            losses["d_temporal"] = 0.5 * (self.gan_loss(t_real, True) + self.gan_loss(t_fake, False))
            losses["d_total"] = losses["d_total"] + self.cfg.loss.lambda_temporal * losses["d_temporal"]
        return losses

    def g_losses(self, s_real, s_fake, t_real, t_fake, batch: dict, fakes) -> dict[str, torch.Tensor]:
        """G's losses: LSGAN + λ_FM·feature matching (spatial, temporal) + λ_P·perceptual, their
        total, and the L1 to the real frames (logged only)."""
        lam = self.cfg.loss
        real_both, fake_both = torch.cat([batch["image_prev"], batch["image"]]), torch.cat(list(fakes))
        losses = {
            "g_gan": self.gan_loss(s_fake, True),
            "g_fm": self.fm_loss(s_fake, s_real),
            "g_perceptual": self.perceptual_loss(fake_both, real_both),
        }
        total = (
            losses["g_gan"] + lam.lambda_fm * losses["g_fm"] + lam.lambda_perceptual * losses["g_perceptual"]
        )
        if t_real is not None:
            losses["g_gan_temporal"] = self.gan_loss(t_fake, True)
            losses["g_fm_temporal"] = self.fm_loss(t_fake, t_real)
            total = total + lam.lambda_temporal * (
                losses["g_gan_temporal"] + lam.lambda_fm * losses["g_fm_temporal"]
            )
        losses["g_total"] = total
        with torch.no_grad():
            losses["l1"] = (fake_both.float() - real_both.float()).abs().mean()
        return losses

    def d_step(self, batch: dict, fakes, d: nn.ModuleDict, opt_d) -> dict[str, torch.Tensor]:
        """Update the spatial and temporal discriminators on real pairs vs detached generated pairs."""
        set_requires_grad(d, True)
        opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            losses = self.d_losses(*self.discriminate(d, batch, *(f.detach() for f in fakes)))
        _check_finite(losses["d_total"], "discriminator loss")
        losses["d_total"].backward()
        opt_d.step()
        return losses

    def g_step(self, batch: dict, fakes, d: nn.ModuleDict, opt_g) -> dict[str, torch.Tensor]:
        """Update G with D frozen, D run again on the real and on the generated frames.

        D is called through its unwrapped module, so DDP does not wait for D gradients here.
        """
        lp, l, ip, i = batch["label_prev"], batch["label"], batch["image_prev"], batch["image"]
        labels = torch.cat([lp, l])
        dm = {k: _unwrapped(v) for k, v in d.items()}
        set_requires_grad(d, False)
        opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            s_fake, t_fake = self.judge_generated(d, batch, fakes)
            with torch.no_grad():
                s_real = dm["spatial"](torch.cat([labels, torch.cat([ip, i])], 1))
                t_real = dm["temporal"](torch.cat([lp, l, ip, i], 1)) if self.cfg.model.temporal else None
            losses = self.g_losses(s_real, s_fake, t_real, t_fake, batch, fakes)
        _check_finite(losses["g_total"], "generator loss")
        losses["g_total"].backward()
        opt_g.step()
        set_requires_grad(d, True)
        return losses

    def face_step(
        self, batch: dict, g: nn.Module, face_g: nn.Module, face_d: nn.Module, opt_g, opt_d
    ) -> dict:
        """EDN's face GAN: a residual for G's face crop, judged with the label crop by a PatchGAN."""
        lam = self.cfg.loss
        l, i, boxes = batch["label"], batch["image"], batch["face_box"]
        finetune = self.cfg.optim.finetune_generator
        if finetune:
            _, fake = self.forward_pair(g, batch)
        else:
            labels = {
                k: batch[k].contiguous(memory_format=self.frozen_format) for k in ("label_prev", "label")
            }
            with torch.no_grad():
                _, fake = self.forward_pair(g, batch | labels)
        label_c, fake_c, real_c = crop_boxes(l, boxes), crop_boxes(fake, boxes), crop_boxes(i, boxes)
        fdm = _unwrapped(face_d)

        with self.autocast():
            face = fake_c + face_g(label_c, fake_c)
        set_requires_grad(face_d, True)
        opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            real_in = torch.cat([label_c, real_c], 1)
            d_out = face_d(torch.cat([real_in, torch.cat([label_c, face.detach()], 1)]))
            d_real, d_fake = _split([d_out], label_c.shape[0])
            loss_d = 0.5 * (self.gan_loss(d_real, True) + self.gan_loss(d_fake, False))
        _check_finite(loss_d, "face discriminator loss")
        loss_d.backward()
        opt_d.step()

        set_requires_grad(face_d, False)
        opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            d_fake = fdm(torch.cat([label_c, face], 1))
            with torch.no_grad():
                d_real = fdm(real_in)
            loss_gan = self.gan_loss([d_fake], True)
            loss_fm = self.fm_loss([d_fake], [d_real])
            loss_p = self.perceptual_loss(face, real_c)
            loss_g = lam.lambda_face * (loss_gan + lam.lambda_fm * loss_fm + lam.lambda_perceptual * loss_p)
        _check_finite(loss_g, "face generator loss")
        loss_g.backward()
        opt_g.step()
        set_requires_grad(face_d, True)
        with torch.no_grad():
            l1 = (face.float() - real_c.float()).abs().mean()
            l1_before = (fake_c.float() - real_c.float()).abs().mean()
        losses = {
            "face_gan": loss_gan,
            "face_fm": loss_fm,
            "face_perceptual": loss_p,
            "face_total": loss_g,
            "face_d": loss_d,
            "face_l1": l1,
            "face_l1_body_only": l1_before,
        }
        return {k: float(all_reduce_mean(v.detach().float(), self.dist)) for k, v in losses.items()}

    # ------------------------------------------------------------------ one stage
    def make_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        o = self.cfg.optim
        kw = {"lr": o.lr, "betas": (o.beta1, o.beta2)}
        if stage == "face":
            params = list(self.face_g.parameters())
            if o.finetune_generator:
                params += list(self.generator(stage).parameters())
            return {
                "g": torch.optim.Adam(params, **kw),
                "d": torch.optim.Adam(self.face_d.parameters(), **kw),
            }
        return {
            "g": torch.optim.Adam(self.trainable_generator_params(stage), **kw),
            "d": torch.optim.Adam(self.d.parameters(), **kw),
        }

    def trainable_generator_params(self, stage: str) -> list[nn.Parameter]:
        """G's parameters used in ``stage``: inside the local enhancer, the global generator's
        to-RGB layer is bypassed (its features feed the local branch), so it is left out."""
        g = self.generator(stage)
        skip = set(map(id, self.global_g.to_rgb.parameters())) if isinstance(g, LocalEnhancer) else set()
        return [p for p in g.parameters() if id(p) not in skip]

    def plan(
        self, stage: str, steps_per_epoch: int, max_steps: int | None, seconds: float | None
    ) -> StagePlan:
        if max_steps is not None or seconds is not None:
            return StagePlan(steps=max_steps, seconds=seconds)
        epochs = self.cfg.optim.epochs.get(stage, 0)
        return StagePlan(steps=max(1, round(epochs * steps_per_epoch)), seconds=None)

    def lr_at(self, progress: float) -> float:
        """pix2pixHD: constant, then linear decay to 0 over the last ``decay_fraction`` of the stage."""
        o = self.cfg.optim
        start = 1 - o.decay_fraction
        if progress <= start or o.decay_fraction == 0:
            return o.lr
        return o.lr * max(0.0, (1 - progress) / o.decay_fraction)

    def run_stage(
        self, stage: str, *, max_steps: int | None, seconds: float | None, stop_after: int | None = None
    ) -> None:
        cfg = self.cfg
        dataset = PairDataset(self.dataset_dir, "train")
        if len(dataset) == 0:
            raise InputError(
                self.dataset_dir, "the training split has fewer than 2 frames; prepare a longer video"
            )
        sampler = EpochSampler(
            len(dataset), seed=cfg.seed, rank=self.dist.rank, world_size=self.dist.world_size
        )
        steps_per_epoch = max(1, math.ceil(sampler.per_rank / cfg.optim.batch_size))
        g = self.generator(stage)
        opt = self.make_optimizers(stage)
        plan = self.plan(stage, steps_per_epoch, max_steps, seconds)
        step, elapsed, epoch, offset = 0, 0.0, 0, 0
        if self.stage_state is not None and self.stage_state["stage"] == stage:
            st = self.stage_state
            step, elapsed, epoch, offset = st["step"], st["elapsed"], st["epoch"], st["offset"]
            for k, o in opt.items():
                try:
                    o.load_state_dict(st["optimizers"][k])
                except (ValueError, KeyError, TypeError, RuntimeError) as e:
                    raise InputError(
                        self.run / "checkpoint/training_state.pt",
                        f"optimizer state {k!r} does not match the model ({str(e)[:160]})",
                    ) from None
            if max_steps is None and seconds is None:
                plan = StagePlan(
                    steps=st["plan_steps"] if st["plan_steps"] > 0 else None,
                    seconds=st["plan_seconds"] if st["plan_seconds"] > 0 else None,
                )
            self.stage_state = None
        scale = self.stage_scale(stage)
        train_g = stage != "face" or cfg.optim.finetune_generator
        g.train(train_g)
        set_requires_grad(g, train_g)
        if isinstance(g, LocalEnhancer):  # bypassed layer: DDP must not wait for its gradients
            set_requires_grad(self.global_g.to_rgb, False)
        modules = self._wrap(stage, g)
        bar = progress_bar(
            plan.steps,
            f"train {stage}",
            "step",
            enabled=self.show_progress and self.dist.is_main,
            initial=step,
        )
        started = time.perf_counter() - elapsed
        last_log = time.perf_counter()
        images_since = 0
        done = plan.progress(step, elapsed) >= 1.0
        while not done:
            sampler.set_position(epoch, offset)
            loader = DataLoader(
                dataset,
                batch_size=cfg.optim.batch_size,
                sampler=sampler,
                num_workers=cfg.num_workers,
                pin_memory=self.device.type == "cuda",
                drop_last=False,
                persistent_workers=False,
                worker_init_fn=_ignore_sigint,
            )
            for raw in loader:
                batch = self.batch_to(raw, scale)
                lr = self.lr_at(plan.progress(step, time.perf_counter() - started))
                for o in opt.values():
                    for group in o.param_groups:
                        group["lr"] = lr
                try:
                    if stage == "face":
                        losses = self.face_step(
                            batch, modules["g"], modules["face_g"], modules["face_d"], opt["g"], opt["d"]
                        )
                    else:
                        losses = self.body_step(batch, modules["g"], modules["d"], opt["g"], opt["d"])
                except NonFiniteLoss as e:
                    bar.close()
                    raise NonFiniteLoss(f"stage {stage}, step {step + 1}: {e}") from None
                step += 1
                offset += batch["label"].shape[0]  # samples of this rank's share of the epoch
                images_since += 2 * batch["label"].shape[0] * self.dist.world_size
                elapsed = time.perf_counter() - started
                global_step = self.global_step(stage, step)
                bar.update(1)
                if step % cfg.log_every == 0:
                    now = time.perf_counter()
                    ips = images_since / max(now - last_log, 1e-9)
                    last_log, images_since = now, 0
                    self.log_metrics(
                        {
                            "stage": stage,
                            "step": step,
                            "global_step": global_step,
                            "lr": lr,
                            "images_per_s": ips,
                            "elapsed": elapsed,
                            **losses,
                        }
                    )
                    show = {
                        k: f"{v:.3f}"
                        for k, v in losses.items()
                        if k in ("g_total", "d_total", "l1", "face_l1")
                    }
                    bar.set_postfix(show | {"img/s": f"{ips:.1f}"}, refresh=False)
                progress_now = plan.progress(step, elapsed)
                done = broadcast_flag(progress_now >= 1.0, self.dist)
                stop = (stop_after is not None and step >= stop_after) or broadcast_flag(
                    self.interrupted, self.dist
                )
                if step % cfg.sample_every == 0:
                    self.sample_grid(stage, global_step)
                if done or stop or step % cfg.checkpoint_every == 0:
                    ep, off = (epoch, offset) if offset < sampler.per_rank else (epoch + 1, 0)
                    if done:
                        self.completed.append(stage)
                    self.save(stage, step, elapsed, ep, off, plan, opt)
                if stop and not done:
                    bar.close()
                    raise TrainingInterrupted(
                        f"stopped in stage {stage} after step {step}; checkpoint written"
                    )
                if done:
                    break
            else:
                epoch, offset = epoch + 1, 0
        bar.close()
        if stage not in self.completed:  # the plan was already spent on entry (a resume with a shorter plan)
            self.completed.append(stage)
            self.save(stage, step, elapsed, epoch, offset, plan, opt)
        self.sample_grid(stage, self.global_step(stage, step))

    def global_step(self, stage: str, step: int) -> int:
        """A step count that keeps increasing across stages (for TensorBoard's x axis)."""
        return STAGES.index(stage) * 10_000_000 + step

    def _wrap(self, stage: str, g: nn.Module) -> dict[str, nn.Module]:
        """DDP-wrap G and each D separately (``broadcast_buffers=False``); optional torch.compile."""

        def wrap(module: nn.Module, trainable: bool = True) -> nn.Module:
            module = module.to(memory_format=self.memory_format)
            if self.dist.enabled and trainable:
                ids = [self.device.index] if self.device.type == "cuda" else None
                module = DDP(module, device_ids=ids, broadcast_buffers=False)
            return module

        pair = PairGenerator(g, self.cfg.model.temporal)
        if stage == "face":
            if self.cfg.optim.finetune_generator:
                body = wrap(pair)
            else:  # frozen: only ever run forward, like generation
                body = pair.to(memory_format=self.frozen_format)
            return {"g": body, "face_g": wrap(self.face_g), "face_d": wrap(self.face_d)}
        gw = wrap(pair)
        if self.cfg.compile:
            gw = torch.compile(gw)
        d = nn.ModuleDict({k: wrap(v) for k, v in self.d.items()})
        return {"g": gw, "d": d}

    # ------------------------------------------------------------------ the whole run
    def train(
        self,
        which: str = "all",
        *,
        max_steps: int | None = None,
        minutes: float | None = None,
        stop_after: int | None = None,
    ) -> list[str]:
        """Train ``which`` stage(s); returns the stages completed so far."""
        stages = [s for s in self.stages(which) if s not in self.completed]
        weights = {s: self.cfg.optim.epochs.get(s, 1.0) or 1.0 for s in stages}
        total = sum(weights.values())
        self.install_signal_handlers()
        try:
            for stage in stages:
                seconds = None if minutes is None else 60.0 * minutes * weights[stage] / total
                self.run_stage(stage, max_steps=max_steps, seconds=seconds, stop_after=stop_after)
        finally:
            self.restore_signal_handlers()
            if self.writer is not None:
                self.writer.close()
        return self.completed

    def install_signal_handlers(self) -> None:
        def handler(signum, frame):
            self.interrupted = True

        self._old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore_signal_handlers(self) -> None:
        for s, h in getattr(self, "_old", {}).items():
            signal.signal(s, h)


def _unwrapped(module: nn.Module) -> nn.Module:
    """The module a DDP wrapper holds (calling it runs no DDP hooks), else the module itself."""
    return module.module if isinstance(module, DDP) else module


def _split(
    outputs: list[list[torch.Tensor]], n: int
) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Split discriminator outputs of a ``[real; fake]`` batch into (real, fake) at sample ``n``."""
    return [[f[:n] for f in scale] for scale in outputs], [[f[n:] for f in scale] for scale in outputs]


def _check_finite(loss: torch.Tensor, what: str) -> None:
    if not torch.isfinite(loss):
        raise NonFiniteLoss(f"{what} is {loss.item()} (NaN/Inf); the weights were not updated with it")


def _load_strict(module: nn.Module, state: dict, path: Path) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise InputError(path, f"weights do not match config.json ({str(e).splitlines()[0][:200]})") from None


def _ignore_sigint(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which finishes its step, writes a
    checkpoint and stops them (a worker dying first would abort the step instead)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
