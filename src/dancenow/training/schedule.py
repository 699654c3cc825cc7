"""How long a stage runs, in what order it sees the frames, and its learning rate."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import Sampler

from dancenow.runfolder.config import OptimConfig


class EpochSampler(Sampler[int]):
    """A seeded order per epoch, sharded across ranks, that can start mid-epoch (exact resume).

    Without ``weights``, a permutation of the ``n`` items. With ``weights`` (``(n,)``, e.g.
    :func:`~dancenow.data.balance.rarity_weights`), ``n`` items drawn with replacement in
    proportion to them: an epoch has as many steps, but a rare pose comes up more often.
    """

    def __init__(self, n: int, *, seed: int, rank: int = 0, world_size: int = 1, weights=None):
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.epoch, self.offset = 0, 0
        self.per_rank = math.ceil(n / world_size)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if self.weights is not None and (self.weights.shape != (n,) or not (self.weights >= 0).all()):
            raise ValueError(f"weights must be ({n},) and non-negative, got {tuple(self.weights.shape)}")

    def set_position(self, epoch: int, offset: int) -> None:
        self.epoch, self.offset = epoch, offset

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        total = self.per_rank * self.world_size
        if self.weights is None:
            perm = torch.randperm(self.n, generator=g).tolist()
            perm += perm[: total - self.n]  # pad so every rank gets as many
        else:
            perm = torch.multinomial(self.weights, total, replacement=True, generator=g).tolist()
        mine = perm[self.rank :: self.world_size]
        return iter(mine[self.offset :])

    def __len__(self) -> int:
        return self.per_rank - self.offset


@dataclass
class StagePlan:
    """How long a stage runs: a fixed number of steps, or a wall-clock budget."""

    steps: int | None  # planned steps (the learning rate decays to 0 at the end), or None
    seconds: float | None  # wall-clock budget, or None

    @classmethod
    def make(
        cls,
        optim: OptimConfig,
        stage: str,
        steps_per_epoch: int,
        max_steps: int | None,
        seconds: float | None,
    ) -> StagePlan:
        """``max_steps`` and/or ``seconds`` when given, else the preset's epochs of ``stage``."""
        if max_steps is not None or seconds is not None:
            return cls(steps=max_steps, seconds=seconds)
        return cls(steps=max(1, round(optim.epochs.get(stage, 0) * steps_per_epoch)), seconds=None)

    def progress(self, step: int, elapsed: float) -> float:
        parts = []
        if self.steps:
            parts.append(step / self.steps)
        if self.seconds:
            parts.append(elapsed / self.seconds)
        return max(parts) if parts else 0.0


def learning_rate(optim: OptimConfig, progress: float) -> float:
    """pix2pixHD: constant, then linear decay to 0 over the last ``decay_fraction`` of the stage."""
    start = 1 - optim.decay_fraction
    if progress <= start or optim.decay_fraction == 0:
        return optim.lr
    return optim.lr * max(0.0, (1 - progress) / optim.decay_fraction)
