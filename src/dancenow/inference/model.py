"""Load a trained run folder for inference (weights only from safetensors, config validated first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dancenow.errors import InputError
from dancenow.models.build import build_face_generator, build_generator
from dancenow.models.generators import FaceResidualGenerator, LocalEnhancer
from dancenow.training.checkpoint import load_into, load_weights
from dancenow.training.config import TrainConfig
from dancenow.training.run import load_run_config
from dancenow.utils import runlock


@dataclass
class TrainedModel:
    """A run's body generator (and face generator, when trained), ready for inference."""

    config: TrainConfig
    document: dict[str, Any]  # the whole config.json (data facts: size, crop, face size, ...)
    generator: nn.Module  # (B, 6, H, W) -> (B, 3, H, W) in [-1, 1]
    face_generator: FaceResidualGenerator | None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames the model generates."""
        w, h = self.document["data"]["size"]
        return int(w), int(h)

    @property
    def face_size(self) -> int:
        return int(self.document["data"]["face_size"])


def load_model(run: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the networks from ``RUN/config.json`` and load their safetensors weights.

    Uses the local enhancer when the run trained one, the face generator when the face stage
    finished. Any missing, corrupt or mismatched file raises :class:`InputError` naming it.
    """
    run = Path(run)
    with runlock.reading(run):  # a run that is training: the files of one complete save
        return _load_model(run, device)


def _load_model(run: Path, device: str | torch.device) -> TrainedModel:
    cfg, doc = load_run_config(run)  # checks the 'data' facts too (size, face size, crop)
    completed = doc.get("completed_stages", [])
    has_local = (run / "local_enhancer.safetensors").is_file()
    global_path = run / "global_generator.safetensors"
    if not global_path.is_file():
        raise InputError(global_path, "missing: the run has no trained generator yet (train it first)")
    g = build_generator(cfg.model, with_local=has_local and cfg.model.local)
    if isinstance(g, LocalEnhancer):
        load_into(g.global_generator, global_path)
        try:
            g.load_local_state_dict(load_weights(run / "local_enhancer.safetensors"))
        except RuntimeError as e:
            raise InputError(
                run / "local_enhancer.safetensors", f"weights do not match config.json ({e})"
            ) from None
    else:
        load_into(g, global_path)
    face = None
    if cfg.model.face and "face" in completed and (run / "face_generator.safetensors").is_file():
        face = build_face_generator(cfg.model)
        load_into(face, run / "face_generator.safetensors")
    g.eval()
    if face is not None:
        face.eval()
    return TrainedModel(cfg, doc, g.to(device), face.to(device) if face is not None else None)
