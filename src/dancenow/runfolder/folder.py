"""The run folder's format, in one place: what is written, how it is read, and how it is checked.

Layout::

    RUN/config.json                   everything needed to rebuild the networks (TrainConfig + frame facts)
    RUN/global_generator.safetensors  body generator (global part)
    RUN/local_enhancer.safetensors    local enhancer's own weights (when the model has one)
    RUN/face_generator.safetensors    face residual generator (after the face stage)
    RUN/enhancer.safetensors          full-size enhancer (used after the enhance stage)
    RUN/target_poses.npz              the target's poses (source pixels), as `dancenow pose` writes them
    RUN/target_pose_stats.json        their statistics, for global pose normalization (paper §3.2)
    RUN/background.png                the target's clean background plate, from the dataset (transfer
                                      pastes crops into it)
    RUN/appearance_*.npy              with ``model.appearance`` nearest | warped: the target's training
                                      crops, person masks, keypoints (training pixels) and the pose
                                      index of their normalized bodies, that transfer retrieves from
    RUN/checkpoint/                   resume state: the weights above + discriminators.safetensors
                                      + training_state.pt (optimizers, step, RNG; weights_only=True)

Every file is written to a temporary name and renamed; ``checkpoint/`` is replaced as a whole,
so an interruption at any moment leaves the previous complete checkpoint. Everything read here
is untrusted input: a problem is an :class:`~dancenow.errors.InputError` naming the file.
"""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from dancenow.data.appearance import AppearanceBank
from dancenow.data.dataset import (
    DatasetInfo,
    FrameFacts,
    background_problem,
    check_frame_facts,
    read_plate,
)
from dancenow.errors import InputError
from dancenow.models.generators import LocalEnhancer
from dancenow.pose.nearest import PoseIndex
from dancenow.pose.normalize import PoseStats, compute_stats
from dancenow.pose.posefile import load_poses
from dancenow.runfolder.config import STAGES, TrainConfig
from dancenow.utils.atomic import atomic_dir, atomic_path, recover_dir, write_json

RUN_VERSION = 4
"""``config.json``'s ``dancenow_config_version``; a folder of any other must be trained again.
Bump it whenever the networks' weights change meaning, even where their shapes happen to match.
4: the body generator draws foreground + alpha over the plate in person-centred windows;
3: the generators upsample by resizing then convolving (2: transposed convolutions)."""
_AGAIN = "train it again with `dancenow train`"


@dataclass(frozen=True)
class RunConfig:
    """A run's ``config.json``, checked."""

    train: TrainConfig
    data: FrameFacts  # how the model's frames sit in the target video
    dataset: str  # the dataset folder it was trained on (may have moved since)
    source_video: str  # the target video (may have moved since)
    perceptual: str  # the perceptual network ``loss.perceptual: auto`` resolved to
    completed: tuple[str, ...]  # stages trained to the end


# --------------------------------------------------------------------------- config.json
def write_config(
    run: Path, cfg: TrainConfig, dataset: DatasetInfo, *, perceptual: str, completed: list[str]
) -> None:
    write_json(
        run / "config.json",
        {
            "dancenow_config_version": RUN_VERSION,
            "train": cfg.to_dict(),
            "perceptual_resolved": perceptual,
            "data": {
                "dataset": str(dataset.root.resolve()),
                "source_video": str(dataset.source_video),
                "size": list(dataset.size),
                "face_size": dataset.face_size,
                "window_size": list(dataset.window_size),
                "source_size": list(dataset.source_size),
                "fps": dataset.fps,
                "full_frame": dataset.full_frame,
            },
            "completed_stages": list(completed),
        },
    )


_DOCUMENT_KEYS = {"dancenow_config_version", "train", "perceptual_resolved", "data", "completed_stages"}
_DATA_KEYS = {
    "dataset",
    "source_video",
    "size",
    "face_size",
    "window_size",
    "source_size",
    "fps",
    "full_frame",
}


def read_config(run: str | Path) -> RunConfig:
    """Read and check ``RUN/config.json`` and the target facts beside it (pose statistics,
    background): the one validator of a run folder."""
    run = Path(run)
    if not run.is_dir():
        raise InputError(run, "no such run folder" if not run.exists() else "is not a folder")
    path = run / "config.json"
    if not path.is_file():
        raise InputError(path, "missing: not a dancenow run folder (train one with `dancenow train`)")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, f"not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("train"), dict):
        raise InputError(path, "not a dancenow run config (an object with a 'train' object)")
    version = doc.get("dancenow_config_version")
    if version != RUN_VERSION:
        older = isinstance(version, int) and not isinstance(version, bool) and version < RUN_VERSION
        raise InputError(
            path,
            f"trained with {'an older' if older else 'another'} dancenow (run folder format version "
            f"{version}, this dancenow reads {RUN_VERSION}); {_AGAIN}",
        )
    try:
        config = _parse(doc)
    except (ValueError, TypeError) as e:
        raise InputError(path, f"invalid config: {e}") from None
    background = run / "background.png"
    problem = background_problem(background, config.data.source_size)
    if problem:
        raise InputError(background, f"{problem}; {_AGAIN}")
    return config


def _parse(doc: dict[str, Any]) -> RunConfig:
    """``config.json`` as a :class:`RunConfig` (ValueError on the first bad field)."""
    unknown = set(doc) - _DOCUMENT_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    cfg = TrainConfig.from_dict(doc["train"])
    perceptual = doc.get("perceptual_resolved", "")
    if not isinstance(perceptual, str):
        raise ValueError("perceptual_resolved must be a string")
    completed = doc.get("completed_stages", [])
    if not isinstance(completed, list) or not set(completed) <= set(STAGES):
        raise ValueError(f"completed_stages must be a list of {', '.join(STAGES)}")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise ValueError("'data' must be an object (the dataset facts written by `dancenow train`)")
    unknown, missing = set(data) - _DATA_KEYS, _DATA_KEYS - set(data)
    if unknown or missing:
        raise ValueError(
            f"data: unknown keys {sorted(unknown)}" if unknown else f"data: missing {sorted(missing)}"
        )
    for key in ("dataset", "source_video"):
        if not isinstance(data[key], str):
            raise ValueError(f"data.{key} must be a string")
    facts = check_frame_facts(data, prefix="data.")
    problem = cfg.model.fit_problem(facts.size, facts.face_size)
    if problem:
        raise ValueError(f"data: {problem}")
    return RunConfig(cfg, facts, data["dataset"], data["source_video"], perceptual, tuple(completed))


# --------------------------------------------------------------------------- weights
def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(path, f"not a readable safetensors file ({e})") from None


def load_into(module: nn.Module, path: Path, state: dict[str, torch.Tensor] | None = None) -> None:
    """Load ``state`` (default: read from ``path``) into ``module`` strictly; a local enhancer
    takes only its own weights. Any mismatch is an :class:`InputError` naming ``path``."""
    state = load_weights(path) if state is None else state
    try:
        if isinstance(module, LocalEnhancer):
            module.load_local_state_dict(state)
        else:
            module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        detail = " ".join(line.strip() for line in str(e).strip().splitlines()[:3])
        raise InputError(path, f"weights do not match config.json ({detail[:300]})") from None


# --------------------------------------------------------------------------- checkpoint/
def save_checkpoint(run: Path, weights: dict[str, dict[str, torch.Tensor]], state: dict[str, Any]) -> None:
    """Replace ``run/checkpoint`` with ``weights`` (name -> state dict) and ``state`` as a whole."""
    problem = _state_problem(state)
    if problem:  # a programming error: a state that load_checkpoint would refuse
        raise ValueError(f"training state: {problem}")
    with atomic_dir(run / "checkpoint") as tmp:
        for name, sd in weights.items():
            save_file(
                {k: v.detach().contiguous().cpu() for k, v in sd.items()}, str(tmp / f"{name}.safetensors")
            )
        torch.save(state, tmp / "training_state.pt")


def load_checkpoint(run: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Read ``run/checkpoint``: (weights by name, training state); unpickling is restricted to tensors."""
    folder = run / "checkpoint"
    recover_dir(folder)  # a kill between atomic_dir's two renames left only the previous checkpoint
    state_path = folder / "training_state.pt"
    if not state_path.is_file():
        raise InputError(run, "no checkpoint to resume from (checkpoint/training_state.pt is missing)")
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refuses any global that is not a tensor or plain data: a pickle that could
        # run code. torch's own message advises weights_only=False, which must never be followed.
        raise InputError(
            state_path, "refused: it holds pickled Python objects, not only tensors (it could run code)"
        ) from None
    except Exception as e:  # noqa: BLE001 - any other failure means a damaged file
        detail = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        raise InputError(
            state_path, f"damaged, not a training state ({e.__class__.__name__}: {detail})"
        ) from None
    problem = _state_problem(state)
    if problem:
        raise InputError(state_path, f"not a dancenow training state ({problem})")
    weights = {p.stem: load_weights(p) for p in sorted(folder.glob("*.safetensors"))}
    return weights, state


# key -> (accepted types, check)
_STATE_FIELDS: dict[str, tuple[tuple[type, ...], Any]] = {
    "stage": ((str,), lambda v: v in STAGES),
    "step": ((int,), lambda v: 0 <= v < 2**62),
    "elapsed": ((int, float), lambda v: 0 <= v < 1e12),
    "epoch": ((int,), lambda v: 0 <= v < 2**62),
    "offset": ((int,), lambda v: 0 <= v < 2**62),
    "plan_steps": ((int,), lambda v: v == -1 or 0 < v < 2**62),
    "plan_seconds": ((int, float), lambda v: v == -1 or 0 < v < 1e12),
    "completed": ((list,), lambda v: all(s in STAGES for s in v)),
    "optimizers": ((dict,), lambda v: set(v) == {"g", "d"} and all(isinstance(o, dict) for o in v.values())),
    "torch_rng": ((torch.Tensor,), lambda v: v.dtype == torch.uint8 and v.ndim == 1),
}


def _state_problem(state: Any) -> str | None:
    """What is wrong with an unpickled training state (None when it has every field, well typed)."""
    if not isinstance(state, dict):
        return f"a {type(state).__name__}, not a dict"
    missing = sorted(set(_STATE_FIELDS) - set(state))
    if missing:
        return f"missing {', '.join(missing)}"
    for key, (types, ok) in _STATE_FIELDS.items():
        value = state[key]
        if not isinstance(value, types) or isinstance(value, bool) or not ok(value):
            shown = value if isinstance(value, (str, int, float)) else type(value).__name__
            return f"bad {key} {shown!r}"
    return None


# --------------------------------------------------------------------------- the target's facts
def write_target_facts(dataset: DatasetInfo, run: Path, *, appearance: str = "none") -> None:
    """Copy what transfer needs about the target into the run: its poses, their statistics for
    global pose normalization (paper §3.2), its background (to keep the target's framing) and,
    with appearance conditioning (``appearance`` not ``none``), its appearance bank."""
    poses = dataset.root / "poses.npz"
    with atomic_path(run / "target_poses.npz") as tmp:
        shutil.copyfile(poses, tmp)
    write_json(run / "target_pose_stats.json", compute_stats(load_poses(poses).keypoints).to_dict())
    with atomic_path(run / "background.png") as tmp:
        shutil.copyfile(dataset.root / "background.png", tmp)
    if appearance != "none":
        write_appearance(dataset, run)


APPEARANCE_FILES = {
    "frames": "appearance_frames.npy",
    "masks": "appearance_masks.npy",
    "keypoints": "appearance_keypoints.npy",
    "index": "appearance_index.npy",
}


def write_appearance(dataset: DatasetInfo, run: Path) -> None:
    """``RUN/appearance_*.npy``: the training split's crops ``(N, h, w, 3)`` uint8, person masks
    ``(N, h, w)`` uint8, keypoints ``(N, 137, 3)`` float32 (training pixels) and the pose index,
    their normalized bodies ``(N, 25, 3)`` float64."""
    t0, t1 = dataset.split_range("train")
    keypoints = np.load(dataset.root / "keypoints.npy", allow_pickle=False)[t0:t1]
    arrays = {
        "frames": np.load(dataset.root / "frames.npy", mmap_mode="r")[t0:t1],
        "masks": np.load(dataset.root / "masks.npy", mmap_mode="r")[t0:t1],
        "keypoints": keypoints,
        "index": PoseIndex.from_keypoints(keypoints).bodies,
    }
    for key, array in arrays.items():
        with atomic_path(run / APPEARANCE_FILES[key]) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array))


def read_appearance(run: Path, config: RunConfig) -> AppearanceBank:
    """The run's appearance bank (:func:`write_appearance`), checked against ``config`` and
    memory-mapped: InputError naming the first missing, damaged or inconsistent file."""
    w, h = config.data.size
    arrays = {}
    for key, name in APPEARANCE_FILES.items():
        path = run / name
        if not path.is_file():
            raise InputError(path, f"missing (model.appearance is {config.train.model.appearance}); {_AGAIN}")
        try:
            arrays[key] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(path, f"not a readable .npy file ({e}); {_AGAIN}") from None
    n = len(arrays["frames"])
    expected = {
        "frames": ((n, h, w, 3), np.uint8),
        "masks": ((n, h, w), np.uint8),
        "keypoints": ((n, 137, 3), np.float32),
        "index": ((n, 25, 3), np.float64),
    }
    for key, (shape, dtype) in expected.items():
        a = arrays[key]
        if a.shape != shape or a.dtype != dtype or n < 1:
            raise InputError(
                run / APPEARANCE_FILES[key],
                f"holds {a.dtype} {a.shape}, expected {np.dtype(dtype)} {shape} with N >= 1; {_AGAIN}",
            )
    for key in ("keypoints", "index"):  # small: loaded whole and checked
        arrays[key] = np.array(arrays[key])
        if not np.isfinite(arrays[key]).all():
            raise InputError(run / APPEARANCE_FILES[key], f"holds NaN or Inf; {_AGAIN}")
    if not np.isin(arrays["index"][:, :, 2], (0.0, 1.0)).all():
        raise InputError(run / APPEARANCE_FILES["index"], f"not a pose index (presence not 0/1); {_AGAIN}")
    return AppearanceBank(arrays["frames"], arrays["masks"], arrays["keypoints"], PoseIndex(arrays["index"]))


def read_pose_stats(run: Path) -> PoseStats:
    """The target's pose statistics (``target_pose_stats.json``)."""
    path = run / "target_pose_stats.json"
    if not path.is_file():
        raise InputError(path, f"missing; {_AGAIN}")
    try:
        return PoseStats.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError, json.JSONDecodeError) as e:
        raise InputError(path, f"invalid pose statistics ({e})") from None


def read_background(run: Path, config: RunConfig) -> np.ndarray:
    """The target video's background at its full size: ``(H, W, 3)`` uint8 RGB."""
    return read_plate(run / "background.png", config.data.source_size, _AGAIN)
