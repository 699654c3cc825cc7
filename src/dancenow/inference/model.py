"""Load a trained run folder for inference (weights only from safetensors, config validated first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dancenow.data.appearance import AppearanceBank
from dancenow.data.dataset import FrameFacts
from dancenow.errors import InputError
from dancenow.models.build import build_enhancer, build_face_generator, build_generator
from dancenow.models.generators import FaceResidualGenerator, LocalEnhancer
from dancenow.runfolder.config import TrainConfig
from dancenow.runfolder.folder import RunConfig, load_into, read_appearance, read_config
from dancenow.utils import runlock


@dataclass
class TrainedModel:
    """A run's body generator (and face generator, when trained), ready for inference."""

    run: RunConfig  # the run's checked config.json
    generator: nn.Module  # (B, model.generator_in_channels, H, W) -> (B, 4, H, W): RGB + alpha
    face_generator: FaceResidualGenerator | None
    appearance: AppearanceBank | None = None  # the target's frames to retrieve (model.appearance)
    enhancer: nn.Module | None = None  # the full-size enhancer, after the enhance stage

    @property
    def config(self) -> TrainConfig:
        return self.run.train

    @property
    def data(self) -> FrameFacts:
        """How the generated frames sit in the target video (crop window, sizes)."""
        return self.run.data

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames the model generates."""
        return self.run.data.size

    @property
    def face_size(self) -> int:
        return self.run.data.face_size


def load_model(run: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the networks from ``RUN/config.json`` and load their safetensors weights.

    Uses the local enhancer when the run trained one, the face generator when the face stage
    finished, the full-size enhancer when the enhance stage finished. Any missing, corrupt or
    mismatched file raises :class:`InputError` naming it.
    """
    run = Path(run)
    with runlock.reading(run):  # a run that is training: the files of one complete save
        return _load_model(run, device)


def _load_model(run: Path, device: str | torch.device) -> TrainedModel:
    config = read_config(run)
    model_cfg = config.train.model
    global_path = run / "global_generator.safetensors"
    if not global_path.is_file():
        raise InputError(global_path, "missing: the run has no trained generator yet (train it first)")
    has_local = model_cfg.local and (run / "local_enhancer.safetensors").is_file()
    g = build_generator(model_cfg, with_local=has_local)
    if isinstance(g, LocalEnhancer):
        load_into(g.global_generator, global_path)
        load_into(g, run / "local_enhancer.safetensors")
    else:
        load_into(g, global_path)
    face = None
    if model_cfg.face and "face" in config.completed and (run / "face_generator.safetensors").is_file():
        face = build_face_generator(model_cfg)
        load_into(face, run / "face_generator.safetensors")
        face.eval().to(device)
    enhancer = None
    if model_cfg.enhance and "enhance" in config.completed and (run / "enhancer.safetensors").is_file():
        enhancer = build_enhancer(model_cfg)
        load_into(enhancer, run / "enhancer.safetensors")
        enhancer.eval().to(device)
    bank = read_appearance(run, config) if model_cfg.appearance != "none" else None
    return TrainedModel(config, g.eval().to(device), face, bank, enhancer)
