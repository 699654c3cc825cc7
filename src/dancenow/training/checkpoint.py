"""Writing and resuming a run's checkpoint (the format itself lives in :mod:`dancenow.runfolder.folder`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from dancenow.errors import InputError
from dancenow.runfolder import folder
from dancenow.training.loss import NonFiniteLoss
from dancenow.training.networks import Networks
from dancenow.utils import runlock


def save(run: Path, nets: Networks, state: dict, write_config: Callable[[], None]) -> None:
    """Write ``config.json`` (``write_config``), the inference weights and a complete resume
    checkpoint holding ``state``.

    A finite loss can still end in NaN weights (an overflowing gradient): such weights never
    replace the last good checkpoint or the inference weights.
    """
    poisoned = [
        name
        for name, sd in nets.all_weights().items()
        if any(v.is_floating_point() and not torch.isfinite(v).all() for v in sd.values())
    ]
    if poisoned:
        where = f"stage {state['stage']}, step {state['step']}"
        raise NonFiniteLoss(f"{where}: {', '.join(poisoned)} weights became NaN/Inf; not saved")
    with runlock.writing(run):  # a reader loading the run gets all of this save or none
        write_config()
        for name, sd in nets.weights().items():
            folder.save_weights(run / f"{name}.safetensors", sd)
    folder.save_checkpoint(run, nets.all_weights(), state)


def resume(run: Path, nets: Networks) -> dict:
    """Load the checkpoint's weights into ``nets`` and its RNG state; returns the training state."""
    weights, state = folder.load_checkpoint(run)  # the state's fields are checked there
    nets.load(weights, run / "checkpoint", state["stage"])
    try:
        torch.set_rng_state(state["torch_rng"])
    except RuntimeError as e:
        raise InputError(run / "checkpoint/training_state.pt", f"bad torch_rng ({e})") from None
    return state


def restore_optimizers(run: Path, optimizers: dict[str, torch.optim.Optimizer], state: dict) -> None:
    for k, o in optimizers.items():
        try:
            o.load_state_dict(state["optimizers"][k])
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise InputError(
                run / "checkpoint/training_state.pt",
                f"optimizer state {k!r} does not match the model ({str(e)[:160]})",
            ) from None
