"""The explicit training loop of EDN: pix2pixHD with temporal smoothing, then the face GAN.

One step (:func:`~dancenow.training.loss.gan_step`) on a batch of frame pairs ``(t-1, t)``:
G generates both frames, the second conditioned on the first and not detached (EDN §3.3); the
spatial and temporal discriminators judge them against the real frames; G and D are updated
from their LSGAN, feature-matching and perceptual losses. Stages run one after another
(``global → local → face → enhance``, see :mod:`~dancenow.training.networks`), each with its own
optimizers, learning-rate schedule and checkpoints.
"""

from __future__ import annotations

import math
import signal
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from dancenow.data.appearance import exclusion_frames
from dancenow.data.balance import rarity_weights
from dancenow.data.dataset import PairDataset, load_dataset_info
from dancenow.errors import InputError
from dancenow.losses.perceptual import PerceptualLoss, resolve_perceptual
from dancenow.models.generators import downsample2
from dancenow.runfolder import folder
from dancenow.runfolder.config import STAGES, TrainConfig
from dancenow.training import checkpoint
from dancenow.training.distributed import DistInfo, all_reduce_mean, broadcast_flag
from dancenow.training.enhance import enhance_patches
from dancenow.training.logs import RunLog, SampleGrids
from dancenow.training.loss import BodyLoss, EnhanceLoss, FaceLoss, NonFiniteLoss, gan_step
from dancenow.training.networks import Networks
from dancenow.training.schedule import EpochSampler, StagePlan, learning_rate
from dancenow.utils.precision import resolve_precision
from dancenow.utils.progress import progress as progress_bar


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was written."""


class Trainer:
    """The networks, losses and optimizers of one run, trained stage by stage into ``run_dir``."""

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
        self.run_dir = Path(run_dir)
        self.data = load_dataset_info(dataset_dir)
        problem = cfg.model.fit_problem(self.data.size, self.data.face_size)
        if problem:
            raise InputError(
                self.data.root, f"{problem} (preset {cfg.preset!r}); run `dancenow prepare --size` again"
            )
        if dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        device = dist.device
        torch.manual_seed(cfg.seed)
        self.nets = Networks(cfg, device)
        self.perceptual_name = resolve_perceptual(
            cfg.loss.perceptual, vgg_weights=cfg.loss.vgg_weights, allow_download=allow_download
        )
        perceptual = PerceptualLoss(
            self.perceptual_name, vgg_weights=cfg.loss.vgg_weights, allow_download=allow_download
        ).to(device)
        self.amp_dtype = resolve_precision(cfg.precision, device)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        frozen = torch.channels_last if cfg.frozen_channels_last else self.memory_format
        self.body_loss = BodyLoss(cfg.loss, perceptual, self.autocast, temporal=cfg.model.temporal)
        self.face_loss = FaceLoss(
            cfg.loss, perceptual, self.autocast, finetune=cfg.optim.finetune_generator, frozen_format=frozen
        )
        self.enhance_loss = EnhanceLoss(cfg.loss, perceptual, self.autocast)
        self.completed: list[str] = []
        self.resume_state: dict | None = None  # set by resume(): the stage to continue mid-way
        self.interrupted = False
        self.log = RunLog(self.run_dir, enabled=dist.is_main)
        self.samples = SampleGrids(self.data, appearance=cfg.model.appearance)

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.dist.device.type, dtype=self.amp_dtype)

    def stages(self, which: str) -> list[str]:
        """The stages ``which`` (a stage or ``all``) means for this model."""
        m = self.cfg.model
        present = {"global": True, "local": m.local, "face": m.face, "enhance": m.enhance}
        if which != "all" and not present[which]:
            what = {
                "local": "local enhancer (model.local",
                "face": "face GAN (model.face",
                "enhance": "full-size enhancer (model.enhance",
            }[which]
            raise InputError(None, f"preset {self.cfg.preset!r} has no {what} is false)")
        return [s for s in (STAGES if which == "all" else [which]) if present[s]]

    # ------------------------------------------------------------------ the run folder
    def write_config(self) -> None:
        folder.write_config(
            self.run_dir, self.cfg, self.data, perceptual=self.perceptual_name, completed=self.completed
        )

    def resume(self) -> None:
        """Continue from the run folder's checkpoint."""
        self.resume_state = checkpoint.resume(self.run_dir, self.nets)
        self.completed = list(self.resume_state["completed"])

    def save(
        self, stage: str, step: int, elapsed: float, position: tuple[int, int], plan: StagePlan, opt
    ) -> None:
        """``config.json``, the inference weights and a complete resume checkpoint (rank 0 only)."""
        if not self.dist.is_main:
            return
        state = {
            "stage": stage,
            "step": step,
            "elapsed": elapsed,
            "epoch": position[0],
            "offset": position[1],
            "plan_steps": plan.steps if plan.steps is not None else -1,
            "plan_seconds": plan.seconds if plan.seconds is not None else -1.0,
            "completed": list(self.completed),
            "optimizers": {k: o.state_dict() for k, o in opt.items()},
            "torch_rng": torch.get_rng_state(),
        }
        checkpoint.save(self.run_dir, self.nets, state, self.write_config)

    # ------------------------------------------------------------------ one step
    def batch_to(self, batch: dict, scale: int) -> dict:
        """A loader batch on the device, images halved for a half-resolution stage."""
        out = {}
        for k, v in batch.items():
            v = v.to(self.dist.device, non_blocking=True)
            if v.ndim == 4:
                if scale > 1:
                    v = downsample2(v)
                v = v.contiguous(memory_format=self.memory_format)
            out[k] = v
        return out

    def step(self, stage: str, nets: dict, batch: dict, opt: dict) -> dict[str, float]:
        """One GAN step of ``stage``; the losses as floats, averaged over processes.

        The body stages use pix2pixHD's fused update unless ``fused_step`` is off (the reference).
        The face stage updates D, then G: its discriminator is small, so fusing saves little.
        """
        if stage == "face":
            losses = gan_step(self.face_loss, nets, batch, opt, fused=False)
        elif stage == "enhance":
            losses = gan_step(self.enhance_loss, nets, batch, opt, fused=self.cfg.fused_step)
        else:
            losses = gan_step(self.body_loss, nets, batch, opt, fused=self.cfg.fused_step)
        return {k: float(all_reduce_mean(v.detach().float(), self.dist)) for k, v in losses.items()}

    def sample_grid(self, stage: str, global_step: int) -> None:
        if not self.dist.is_main or stage == "enhance":  # its samples are full-size patches
            return
        grid = self.samples(
            self.nets.body(stage),
            self.nets.face_g if stage == "face" else None,
            temporal=self.cfg.model.temporal,
            scale=self.nets.scale(stage),
            autocast=self.autocast,
        )
        self.log.image(stage, grid, global_step)

    # ------------------------------------------------------------------ one stage
    def run_stage(
        self, stage: str, *, max_steps: int | None, seconds: float | None, stop_after: int | None = None
    ) -> None:
        cfg, dist = self.cfg, self.dist
        m = cfg.model
        if stage == "enhance":
            dataset = enhance_patches(
                self.nets.body(stage),
                self.nets.face_g if "face" in self.completed else None,
                self.data,
                cfg,
                dist.device,
                self.autocast,
                progress=self.show_progress and dist.is_main,
            )
        else:
            dataset = PairDataset(
                self.data.root, "train", appearance=m.appearance, neighbours=m.appearance_neighbours
            )
        if len(dataset) == 0:
            raise InputError(
                self.data.root, "the training split has fewer than 2 frames; prepare a longer video"
            )
        weights = None
        if cfg.optim.pose_balance > 0 and stage != "enhance":  # pair i ends at frame start + 1 + i
            frames = dataset.keypoints[dataset.start : dataset.stop]
            exclude = exclusion_frames(dataset.info.fps)
            weights = rarity_weights(frames, exclude=exclude, strength=cfg.optim.pose_balance)[1:]
        sampler = EpochSampler(
            len(dataset), seed=cfg.seed, rank=dist.rank, world_size=dist.world_size, weights=weights
        )
        steps_per_epoch = max(1, math.ceil(sampler.per_rank / self._batch_size(stage)))
        plan = StagePlan.make(cfg.optim, stage, steps_per_epoch, max_steps, seconds)
        opt = self.nets.optimizers(stage)
        step, elapsed, epoch, offset = 0, 0.0, 0, 0
        if self.resume_state is not None and self.resume_state["stage"] == stage:
            st, self.resume_state = self.resume_state, None
            step, elapsed, epoch, offset = st["step"], st["elapsed"], st["epoch"], st["offset"]
            checkpoint.restore_optimizers(self.run_dir, opt, st)
            if max_steps is None and seconds is None:  # continue the saved plan
                plan = StagePlan(
                    steps=st["plan_steps"] if st["plan_steps"] > 0 else None,
                    seconds=st["plan_seconds"] if st["plan_seconds"] > 0 else None,
                )
        scale = self.nets.scale(stage)
        nets = self.nets.for_stage(stage, dist)
        bar = progress_bar(
            plan.steps, f"train {stage}", "step", enabled=self.show_progress and dist.is_main, initial=step
        )
        started = time.perf_counter() - elapsed
        last_log, images_since = time.perf_counter(), 0
        done = plan.progress(step, elapsed) >= 1.0
        while not done:
            sampler.set_position(epoch, offset)
            for raw in self._loader(dataset, sampler, stage):
                batch = self.batch_to(raw, scale)
                lr = learning_rate(cfg.optim, plan.progress(step, time.perf_counter() - started))
                for o in opt.values():
                    for group in o.param_groups:
                        group["lr"] = lr
                try:
                    losses = self.step(stage, nets, batch, opt)
                except NonFiniteLoss as e:
                    bar.close()
                    raise NonFiniteLoss(f"stage {stage}, step {step + 1}: {e}") from None
                step += 1
                offset += batch["label"].shape[0]  # samples of this rank's share of the epoch
                images_since += 2 * batch["label"].shape[0] * dist.world_size
                elapsed = time.perf_counter() - started
                global_step = STAGES.index(stage) * 10_000_000 + step  # increases across stages
                bar.update(1)
                if step % cfg.log_every == 0:
                    now = time.perf_counter()
                    ips = images_since / max(now - last_log, 1e-9)
                    last_log, images_since = now, 0
                    self.log.metrics(
                        {"stage": stage, "step": step, "global_step": global_step, "lr": lr}
                        | {"images_per_s": ips, "elapsed": elapsed, **losses}
                    )
                    shown = {
                        k: f"{v:.3f}"
                        for k, v in losses.items()
                        if k in ("g_total", "d_total", "l1", "face_l1")
                    }
                    bar.set_postfix(shown | {"img/s": f"{ips:.1f}"}, refresh=False)
                done = broadcast_flag(plan.progress(step, elapsed) >= 1.0, dist)
                stop = (stop_after is not None and step >= stop_after) or broadcast_flag(
                    self.interrupted, dist
                )
                if step % cfg.sample_every == 0:
                    self.sample_grid(stage, global_step)
                if done or stop or step % cfg.checkpoint_every == 0:
                    position = (epoch, offset) if offset < sampler.per_rank else (epoch + 1, 0)
                    if done:
                        self.completed.append(stage)
                    self.save(stage, step, elapsed, position, plan, opt)
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
            self.save(stage, step, elapsed, (epoch, offset), plan, opt)
        self.sample_grid(stage, STAGES.index(stage) * 10_000_000 + step)

    def _batch_size(self, stage: str) -> int:
        return self.cfg.optim.enhance_batch if stage == "enhance" else self.cfg.optim.batch_size

    def _loader(self, dataset, sampler: EpochSampler, stage: str) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self._batch_size(stage),
            sampler=sampler,
            # the enhance stage's patches are cut from frames held in this process's memory
            num_workers=0 if stage == "enhance" else self.cfg.num_workers,
            pin_memory=self.dist.device.type == "cuda",
            drop_last=False,
            persistent_workers=False,
            worker_init_fn=_ignore_sigint,
        )

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
        with self._stop_on_signals():
            try:
                for stage in stages:
                    seconds = None if minutes is None else 60.0 * minutes * weights[stage] / total
                    self.run_stage(stage, max_steps=max_steps, seconds=seconds, stop_after=stop_after)
            finally:
                self.log.close()
        return self.completed

    @contextmanager
    def _stop_on_signals(self):
        """SIGINT/SIGTERM finish the current step, write a checkpoint and stop."""

        def handler(signum, frame):
            self.interrupted = True

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def _ignore_sigint(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which finishes its step, writes a
    checkpoint and stops them (a worker dying first would abort the step instead)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
