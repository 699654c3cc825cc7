"""The run folder: ``config.json``, safetensors weights, ``checkpoint/`` for resuming.

Layout::

    RUN/config.json                   everything needed to rebuild the networks (TrainConfig + data facts)
    RUN/global_generator.safetensors  body generator (global part)
    RUN/local_enhancer.safetensors    local enhancer's own weights (when the model has one)
    RUN/face_generator.safetensors    face residual generator (after the face stage)
    RUN/checkpoint/                   resume state: the weights above + discriminators.safetensors
                                      + training_state.pt (optimizers, step, RNG; weights_only=True)

Every file is written to a temporary name and renamed; ``checkpoint/`` is replaced as a whole,
so an interruption at any moment leaves the previous complete checkpoint.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from dancenow.errors import InputError
from dancenow.training.config import STAGES
from dancenow.utils.atomic import atomic_dir, atomic_path, recover_dir

WEIGHT_FILES = ("global_generator", "local_enhancer", "face_generator")


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(path, f"not a readable safetensors file ({e})") from None


def load_into(module: nn.Module, path: Path) -> None:
    """Load safetensors weights into ``module``; any mismatch is an :class:`InputError` naming the file."""
    state = load_weights(path)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise InputError(path, f"weights do not match config.json ({detail[:300]})") from None


def save_checkpoint(run: Path, weights: dict[str, dict[str, torch.Tensor]], state: dict[str, Any]) -> None:
    """Replace ``run/checkpoint`` with ``weights`` (name -> state dict) and ``state`` as a whole."""
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


# key -> (accepted types, check); written by Trainer.save
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
