"""``dancenow train``: set up (distributed, config, resume) and run the :class:`Trainer`."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from dancenow.errors import InputError
from dancenow.training.config import TrainConfig, load_preset, merge_overrides
from dancenow.training.distributed import barrier, cleanup, setup
from dancenow.training.trainer import Trainer

log = logging.getLogger(__name__)


def load_run_config(run: str | Path) -> tuple[TrainConfig, dict[str, Any]]:
    """Read and validate ``RUN/config.json`` (untrusted input): (TrainConfig, the whole document)."""
    path = Path(run) / "config.json"
    if not Path(run).is_dir():
        raise InputError(run, "no such run folder" if not Path(run).exists() else "is not a folder")
    if not path.is_file():
        raise InputError(path, "missing: not a dancenow run folder (train one with `dancenow train`)")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, f"not valid JSON ({e})") from None
    if (
        not isinstance(doc, dict)
        or doc.get("dancenow_config_version") != 1
        or not isinstance(doc.get("train"), dict)
    ):
        raise InputError(path, "not a dancenow run config (dancenow_config_version 1 with a 'train' object)")
    try:
        cfg = TrainConfig.from_dict(doc["train"])
    except (ValueError, TypeError) as e:
        raise InputError(path, f"invalid config: {e}") from None
    return cfg, doc


def train_run(
    dataset: str | Path,
    run: str | Path,
    *,
    preset: str = "cpu",
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
    try:
        if resume:
            cfg, _ = load_run_config(run)
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
        if dist.is_main:
            run.mkdir(parents=True, exist_ok=True)
        barrier(dist)
        trainer = Trainer(cfg, dataset, run, dist, progress=progress)
        if resume:
            trainer.load()
        if dist.is_main:
            trainer.write_config()
            write_target_facts(Path(dataset), run)
        return trainer.train(stage, max_steps=max_steps, minutes=minutes, stop_after=stop_after)
    finally:
        cleanup()


def write_target_facts(dataset: Path, run: Path) -> None:
    """Copy what transfer needs about the target into the run: its poses, their statistics for
    global pose normalization (paper §3.2), and its background (to keep the target's framing)."""
    from dancenow.pose.normalize import compute_stats
    from dancenow.pose.posefile import load_poses
    from dancenow.utils.atomic import write_json

    poses = dataset / "poses.npz"
    if poses.is_file():
        shutil.copyfile(poses, run / "target_poses.npz")
        write_json(run / "target_pose_stats.json", compute_stats(load_poses(poses).keypoints).to_dict())
    background = dataset / "background.png"
    if background.is_file():
        shutil.copyfile(background, run / "background.png")
