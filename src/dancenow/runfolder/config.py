"""Typed training configuration: the one place defaults live, and the schema of ``config.json``.

Defaults are the paper's (pix2pixHD + EDN) where the paper is clear. Presets
(``presets/*.json``) override a few fields; the resolved config is saved as the run
folder's ``config.json`` and is all that is needed to rebuild the networks.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from dancenow.models.config import ModelConfig, check, from_dict

STAGES = ("global", "local", "face", "enhance")
PRESETS = ("tiny", "cpu", "paper")
"""Every preset, in the order front ends list them (``presets/NAME.json``)."""
DEFAULT_PRESET = "cpu"


@dataclass
class LossConfig:
    """Loss weights (EDN: λ_FM = 10, λ_P = 10, VGG layer weights 1/32 … 1)."""

    lambda_fm: float = 10.0
    """Discriminator feature matching."""
    lambda_perceptual: float = 10.0
    """Perceptual loss."""
    perceptual: str = "auto"
    """Perceptual network: vgg19 | effnet-lite0 | none | auto (vgg19 if its weights are at hand,
    else effnet-lite0)."""
    vgg_weights: str | None = None
    """Path to torchvision's vgg19-dcbb9e9d.pth (else the torch hub cache is searched)."""
    lambda_temporal: float = 1.0
    """Weight of the temporal discriminator's GAN + feature-matching terms."""
    lambda_face: float = 1.0
    """Weight of the face GAN's losses (relative to its own GAN term)."""
    lambda_alpha: float = 5.0
    """Weight of the L1 between the generated alpha and the person mask (soft: the band around the
    mask's edge and frames whose mask lost the person are left out)."""
    lambda_enhance_l1: float = 10.0
    """Enhance stage: weight of the L1 to the real full-size frame, beside its GAN, feature
    matching and perceptual terms."""
    limb_cores: bool = True
    """The alpha loss also asks for alpha = 1 on a thin capsule along each visible limb (taken
    from the pose), which the mask's edge band never leaves out: a forearm is narrower than the
    band."""

    def __post_init__(self):
        check(
            self.perceptual in ("vgg19", "effnet-lite0", "none", "auto"),
            f"loss.perceptual must be vgg19|effnet-lite0|none|auto, got {self.perceptual!r}",
        )
        for name in (
            "lambda_fm",
            "lambda_perceptual",
            "lambda_temporal",
            "lambda_face",
            "lambda_alpha",
            "lambda_enhance_l1",
        ):
            check(0 <= getattr(self, name) <= 1e4, f"loss.{name} must be in [0, 1e4]")


@dataclass
class OptimConfig:
    """Adam with pix2pixHD's schedule: constant, then linear decay to 0 over the last ``decay_fraction``."""

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 1
    """Per process (per GPU)."""
    epochs: dict[str, float] = field(
        default_factory=lambda: {"global": 5, "local": 30, "face": 5, "enhance": 50}
    )
    """The paper's schedule, in passes over the training frames, per stage."""
    decay_fraction: float = 0.5
    """Fraction of each stage spent linearly decaying the learning rate to 0."""
    finetune_generator: bool = False
    """Face stage: also fine-tune the body generator (EDN: optional)."""
    enhance_patch: int = 128
    """Enhance stage: side of the full-size training patches (pixels of the output)."""
    enhance_batch: int = 4
    """Enhance stage: patches per step (per process)."""
    enhance_frames: int = 120
    """Enhance stage: training frames kept at full size (evenly spread; one epoch draws one patch
    of each)."""
    pose_balance: float = 0.0
    """Draw the training frames in proportion to how rare their pose is in the video, to this
    power (:mod:`dancenow.data.balance`); 0 draws each frame once per epoch."""

    def __post_init__(self):
        check(0 < self.lr <= 1, f"optim.lr must be in (0, 1], got {self.lr}")
        check(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "optim.beta1/beta2 must be in [0, 1)")
        check(1 <= self.batch_size <= 1024, f"optim.batch_size must be in [1, 1024], got {self.batch_size}")
        check(0 <= self.decay_fraction <= 1, "optim.decay_fraction must be in [0, 1]")
        check(
            16 <= self.enhance_patch <= 1024,
            f"optim.enhance_patch must be in [16, 1024], got {self.enhance_patch}",
        )
        check(
            1 <= self.enhance_batch <= 1024,
            f"optim.enhance_batch must be in [1, 1024], got {self.enhance_batch}",
        )
        check(
            1 <= self.enhance_frames <= 10000,
            f"optim.enhance_frames must be in [1, 10000], got {self.enhance_frames}",
        )
        check(0 <= self.pose_balance <= 4, f"optim.pose_balance must be in [0, 4], got {self.pose_balance}")
        check(
            isinstance(self.epochs, dict) and set(self.epochs) <= set(STAGES),
            f"optim.epochs keys must be {STAGES}",
        )
        check(
            all(0 <= float(v) <= 1e4 for v in self.epochs.values()), "optim.epochs values must be in [0, 1e4]"
        )


@dataclass
class TrainConfig:
    """Everything that defines a training run."""

    preset: str = "paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    precision: str = "auto"
    """fp32 | bf16 | auto (bf16 autocast where the device runs it fast, else fp32)."""
    channels_last: bool = False
    """Channels-last memory format (helps some GPUs; slowed eager CPU convolutions here)."""
    compile: bool = False
    """torch.compile the generator and discriminators."""
    fused_step: bool = True
    """pix2pixHD's update: G and D both updated from losses computed with the same D, no backward
    computing a gradient nobody uses; false: a D step, then a G step that runs D again on the
    real and the generated frames (the reference)."""
    frozen_channels_last: bool = True
    """Run the frozen body generator of the face stage channels-last, as generation does (a
    forward pass only; face steps up to 1.4x faster at 256x256 on the project's CPU)."""
    norm_kernel: str = "group"
    """Instance norm computed by the group-norm kernel (``group``, fast backward) or by
    PyTorch's instance-norm path (``instance``, the reference); the same function either way."""
    num_workers: int = 2
    """DataLoader worker processes."""
    log_every: int = 10
    """Steps between metrics.jsonl / TensorBoard scalar records."""
    sample_every: int = 200
    """Steps between sample grids (label | generated | real)."""
    checkpoint_every: int = 500
    """Steps between checkpoints (also written at the end and on interruption)."""

    def __post_init__(self):
        if isinstance(self.model, dict):
            self.model = from_dict(ModelConfig, self.model, "model")
        if isinstance(self.loss, dict):
            self.loss = from_dict(LossConfig, self.loss, "loss")
        if isinstance(self.optim, dict):
            self.optim = from_dict(OptimConfig, self.optim, "optim")
        check(
            self.precision in ("fp32", "bf16", "auto"),
            f"precision must be fp32|bf16|auto, got {self.precision!r}",
        )
        check(isinstance(self.fused_step, bool), "fused_step must be true or false")
        check(isinstance(self.frozen_channels_last, bool), "frozen_channels_last must be true or false")
        check(
            self.norm_kernel in ("group", "instance"),
            f"norm_kernel must be group|instance, got {self.norm_kernel!r}",
        )
        check(0 <= self.num_workers <= 64, "num_workers must be in [0, 64]")
        for name in ("log_every", "sample_every", "checkpoint_every"):
            check(1 <= getattr(self, name) <= 10**9, f"{name} must be >= 1")
        check(isinstance(self.seed, int) and 0 <= self.seed < 2**63, "seed must be a non-negative int")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a (possibly untrusted) dict: unknown keys and wrong types raise ``ValueError``."""
        return from_dict(cls, data, "config", _NESTED)


def load_preset(name: str) -> TrainConfig:
    """The named preset (``tiny`` | ``cpu`` | ``paper``) applied over the defaults."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    overrides = json.loads(resources.files("dancenow.runfolder").joinpath(f"presets/{name}.json").read_text())
    return TrainConfig.from_dict(merge_overrides(TrainConfig(preset=name).to_dict(), overrides))


# The plain fp32 eager implementation (``dancenow train --reference``), for comparison and debugging.
REFERENCE_OVERRIDES = {
    "precision": "fp32",
    "compile": False,
    "channels_last": False,
    "fused_step": False,
    "frozen_channels_last": False,
    "norm_kernel": "instance",
}


def merge_overrides(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` applied section by section (``optim.epochs`` is replaced whole)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "epochs":
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = value
    return out


_NESTED = {"LossConfig": LossConfig, "OptimConfig": OptimConfig}

__all__ = [
    "STAGES",
    "PRESETS",
    "DEFAULT_PRESET",
    "ModelConfig",
    "LossConfig",
    "OptimConfig",
    "TrainConfig",
    "load_preset",
    "merge_overrides",
    "REFERENCE_OVERRIDES",
]
