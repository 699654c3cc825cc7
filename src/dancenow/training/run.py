"""``dancenow train``: set up (distributed, config, resume) and run the :class:`Trainer`."""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from dancenow.errors import InputError
from dancenow.runfolder import folder
from dancenow.runfolder.config import DEFAULT_PRESET, TrainConfig, load_preset, merge_overrides
from dancenow.training.distributed import barrier, cleanup, setup
from dancenow.training.trainer import Trainer
from dancenow.utils.runlock import training_lock

log = logging.getLogger(__name__)


def train_run(
    dataset: str | Path,
    run: str | Path,
    *,
    preset: str = DEFAULT_PRESET,
    stage: str = "all",
    max_steps: int | None = None,
    minutes: float | None = None,
    resume: bool = False,
    device: str | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> list[str]:
    """Train (or resume) a run; returns the completed stages. See ``dancenow train --help``."""
    run = Path(run)
    dist = setup(device)
    held = contextlib.ExitStack()  # the run's training lock (rank 0), released on any exit
    try:
        if dist.is_main and run.is_dir():  # before anything else: a second process learns who trains here
            held.enter_context(training_lock(run))
        if resume:
            cfg = folder.read_config(run).train
        else:
            if (run / "checkpoint").exists():
                raise InputError(
                    run, "already holds a training run: add --resume to continue it, or pick another -o"
                )
            try:
                cfg = load_preset(preset)
                if overrides:
                    cfg = TrainConfig.from_dict(merge_overrides(cfg.to_dict(), overrides))
            except ValueError as e:
                raise InputError(None, str(e)) from None
        created = not run.exists()
        if dist.is_main:
            run.mkdir(parents=True, exist_ok=True)
            held.enter_context(training_lock(run))
        barrier(dist)
        try:
            trainer = Trainer(cfg, dataset, run, dist, progress=progress)
        except InputError:
            # a bad dataset or option found before any training: leave no empty run folder behind
            if created and dist.is_main:
                shutil.rmtree(run, ignore_errors=True)
            raise
        if resume:
            trainer.resume()
        if dist.is_main:
            trainer.write_config()
            folder.write_target_facts(trainer.data, run, appearance=cfg.model.appearance)
        return trainer.train(stage, max_steps=max_steps, minutes=minutes, stop_after=stop_after)
    finally:
        held.close()
        cleanup()
