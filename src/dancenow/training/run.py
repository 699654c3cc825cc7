"""``dancenow train``: set up (distributed, config, resume) and run the :class:`Trainer`."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

from dancenow.errors import InputError
from dancenow.training.config import STAGES, TrainConfig, load_preset, merge_overrides
from dancenow.training.distributed import barrier, cleanup, setup
from dancenow.training.trainer import Trainer
from dancenow.utils.runlock import training_lock

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
        _check_document(doc)
        _check_fits(cfg, doc["data"])
    except (ValueError, TypeError) as e:
        raise InputError(path, f"invalid config: {e}") from None
    return cfg, doc


_DOCUMENT_KEYS = {"dancenow_config_version", "train", "perceptual_resolved", "data", "completed_stages"}
_MAX_SIDE = 16384  # pixels: larger than any video a phone or camera records


def _check_document(doc: dict[str, Any]) -> None:
    """Everything in ``config.json`` besides ``train``: known keys, types and ranges (ValueError).

    Transfer and evaluation build crops, resizes and face boxes from the ``data`` facts, so a
    hand-edited or hostile value must fail here, with the file named, rather than deep in OpenCV.
    """
    unknown = set(doc) - _DOCUMENT_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    if not isinstance(doc.get("perceptual_resolved", ""), str):
        raise ValueError("perceptual_resolved must be a string")
    completed = doc.get("completed_stages", [])
    if not isinstance(completed, list) or not set(completed) <= set(STAGES):
        raise ValueError(f"completed_stages must be a list of {', '.join(STAGES)}")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise ValueError("'data' must be an object (the dataset facts written by `dancenow train`)")
    known = {"dataset", "source_video", "size", "face_size", "crop", "source_size", "fps", "full_frame"}
    unknown = set(data) - known
    missing = {"size", "face_size", "crop", "source_size"} - set(data)
    if unknown or missing:
        raise ValueError(
            f"data: unknown keys {sorted(unknown)}" if unknown else f"data: missing {sorted(missing)}"
        )
    for key in ("dataset", "source_video"):
        if not isinstance(data.get(key, ""), str):
            raise ValueError(f"data.{key} must be a string")
    for key in ("size", "source_size"):
        value = data[key]
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(_is_int(v) and 1 <= v <= _MAX_SIDE for v in value)
        ):
            raise ValueError(f"data.{key} must be [width, height] in 1..{_MAX_SIDE} pixels, got {value!r}")
    width, height = data["size"]
    if not (_is_int(data["face_size"]) and 2 <= data["face_size"] <= min(width, height)):
        raise ValueError(
            f"data.face_size must be an int in [2, {min(width, height)}], got {data['face_size']!r}"
        )
    crop = data["crop"]
    if not (isinstance(crop, list) and len(crop) == 4 and all(_is_number(v) for v in crop)):
        raise ValueError(f"data.crop must be [x0, y0, x1, y1] (numbers), got {crop!r}")
    x0, y0, x1, y1 = crop
    limit = 4 * _MAX_SIDE
    if not (-limit <= x0 < x1 <= limit and -limit <= y0 < y1 <= limit and x1 - x0 >= 2 and y1 - y0 >= 2):
        raise ValueError(f"data.crop must be a box at least 2 pixels wide and high, got {crop!r}")
    fps = data.get("fps", 30.0)
    if not (_is_number(fps) and 0 < fps <= 1000):
        raise ValueError(f"data.fps must be in (0, 1000], got {fps!r}")
    if not isinstance(data.get("full_frame", False), bool):
        raise ValueError("data.full_frame must be true or false")


def _check_fits(cfg: TrainConfig, data: dict[str, Any]) -> None:
    """The networks of ``cfg`` can run at the frame and face sizes of ``data`` (ValueError)."""
    m = cfg.model
    if any(side % m.size_multiple for side in data["size"]):
        raise ValueError(f"data.size {data['size']} must be multiples of {m.size_multiple} for this model")
    if m.face and data["face_size"] % (2**m.face_down):
        raise ValueError(f"data.face_size {data['face_size']} must be a multiple of {2**m.face_down}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
    held = contextlib.ExitStack()  # the run's training lock (rank 0), released on any exit
    try:
        if dist.is_main and run.is_dir():  # before anything else: a second process learns who trains here
            held.enter_context(training_lock(run))
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
            trainer.load()
        if dist.is_main:
            trainer.write_config()
            write_target_facts(Path(dataset), run)
        return trainer.train(stage, max_steps=max_steps, minutes=minutes, stop_after=stop_after)
    finally:
        held.close()
        cleanup()


def write_target_facts(dataset: Path, run: Path) -> None:
    """Copy what transfer needs about the target into the run: its poses, their statistics for
    global pose normalization (paper §3.2), and its background (to keep the target's framing)."""
    from dancenow.pose.normalize import compute_stats
    from dancenow.pose.posefile import load_poses
    from dancenow.utils.atomic import write_json

    poses = dataset / "poses.npz"
    if poses.is_file():
        _copy_atomic(poses, run / "target_poses.npz")
        write_json(run / "target_pose_stats.json", compute_stats(load_poses(poses).keypoints).to_dict())
    background = dataset / "background.png"
    if background.is_file():
        _copy_atomic(background, run / "background.png")


def _copy_atomic(source: Path, target: Path) -> None:
    """Copy under a temporary name and rename: transfer may read the run while it trains."""
    from dancenow.utils.atomic import atomic_path

    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
