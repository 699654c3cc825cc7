"""Network shapes: :class:`ModelConfig`, checked where it is built.

Also the strict reader every config dataclass of the project uses (:func:`from_dict`): a
``config.json`` is untrusted input, so unknown keys and wrong types are errors, never ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from dancenow.data import APPEARANCE_MODES


@dataclass
class ModelConfig:
    """Network shapes (pix2pixHD defaults)."""

    label_channels: int = 3
    """Channels of the stick-figure label image (RGB)."""
    temporal: bool = True
    """EDN temporal smoothing: G also sees its previous output; a temporal D judges frame pairs."""
    ngf: int = 64
    """Global generator: filters of the first layer (doubled per downsampling)."""
    n_down: int = 4
    """Global generator: stride-2 convolutions (input sides must be multiples of 2**n_down)."""
    n_blocks: int = 9
    """Global generator: residual blocks."""
    max_channels: int = 1024
    """Global generator: cap on filters (pix2pixHD: 64·2⁴ = 1024). The residual blocks at the
    bottleneck cost most of G's time; the cpu preset caps them at 128."""
    local: bool = False
    """Add pix2pixHD's local enhancer (doubles resolution; the global stage trains at half size)."""
    local_ngf: int = 32
    """Local enhancer filters; must be ngf / 2."""
    local_blocks: int = 3
    """Local enhancer residual blocks."""
    ndf: int = 64
    """Discriminators: filters of the first layer."""
    d_layers: int = 3
    """Discriminators: stride-2 layers per PatchGAN."""
    d_scales: int = 2
    """Discriminators: number of scales of the multi-scale PatchGAN."""
    face: bool = True
    """Train EDN's face GAN (a residual generator and a discriminator on the face crop)."""
    face_ngf: int = 32
    face_down: int = 2
    face_blocks: int = 5
    face_ndf: int = 64
    face_d_layers: int = 3
    enhance: bool = False
    """Train the full-size enhancer (:mod:`dancenow.models.enhancer`): detail at the output's
    size, learnt on patches of the target's own full-size frames (stage ``enhance``)."""
    enhance_ngf: int = 32
    """Enhancer filters at half resolution (half as many at full resolution)."""
    enhance_blocks: int = 4
    """Enhancer residual blocks (at half resolution)."""
    enhance_ndf: int = 32
    enhance_d_layers: int = 3
    norm: str = "instance"
    """Normalization in G and D: instance | batch | none."""
    appearance: str = "none"
    """Texture from the target's own frames, given to G beside the stick figure: ``none``;
    ``nearest`` (the training frame nearest by pose, unwarped); ``warped`` (that frame warped
    part by part into the wanted pose). Adds 4 input channels (RGB + valid) to G."""
    appearance_neighbours: int = 1
    """Training: each frame draws its appearance frame at random from this many nearest training
    frames (never within 0.5 s of itself); generation always takes the nearest."""

    def __post_init__(self):
        check(
            self.norm in ("instance", "batch", "none"),
            f"model.norm must be instance|batch|none, got {self.norm!r}",
        )
        for name in _WIDTHS:
            value = getattr(self, name)
            check(1 <= value <= 4096, f"model.{name} must be in [1, 4096], got {value}")
        for name in ("n_down", "face_down"):
            value = getattr(self, name)
            check(1 <= value <= 6, f"model.{name} must be in [1, 6], got {value}")
        for name in ("local_blocks", "face_blocks", "enhance_blocks"):
            value = getattr(self, name)
            check(0 <= value <= 64, f"model.{name} must be in [0, 64], got {value}")
        check(
            self.appearance in APPEARANCE_MODES,
            f"model.appearance must be {'|'.join(APPEARANCE_MODES)}, got {self.appearance!r}",
        )
        check(
            1 <= self.appearance_neighbours <= 16,
            f"model.appearance_neighbours must be in [1, 16], got {self.appearance_neighbours}",
        )
        if self.local:
            check(
                self.ngf == 2 * self.local_ngf,
                f"model.local_ngf must be ngf/2 = {self.ngf / 2}, got {self.local_ngf}",
            )

    @property
    def generator_in_channels(self) -> int:
        """Label, previous frame (temporal smoothing), appearance RGB + valid (when not none)."""
        return self.label_channels + (3 if self.temporal else 0) + (4 if self.appearance != "none" else 0)

    @property
    def size_multiple(self) -> int:
        """Training frame sides must be multiples of this."""
        return 2 ** (self.n_down + (1 if self.local else 0))

    @property
    def face_multiple(self) -> int:
        """Face crop sides must be multiples of this."""
        return 2**self.face_down

    def fit_problem(self, size: tuple[int, int], face_size: int) -> str | None:
        """Why these networks cannot run on ``size`` = (width, height) frames with ``face_size``
        face crops, or None."""
        m = self.size_multiple
        for side, name in zip(size, ("width", "height"), strict=True):
            if side % m or side < 2 * m:
                return f"frame {name} {side} must be a multiple of {m} and at least {2 * m} for this model"
        if self.face and face_size % self.face_multiple:
            return f"face size {face_size} must be a multiple of {self.face_multiple} for this model"
        return None


# every filter count and layer count that must be at least 1
_WIDTHS = (
    "label_channels",
    "ngf",
    "n_blocks",
    "max_channels",
    "local_ngf",
    "ndf",
    "d_layers",
    "d_scales",
    "face_ngf",
    "face_ndf",
    "face_d_layers",
    "enhance_ngf",
    "enhance_ndf",
    "enhance_d_layers",
)


def check(ok: bool, message: str) -> None:
    """``ValueError(message)`` unless ``ok``: how every config field reports a bad value."""
    if not ok:
        raise ValueError(message)


_SIMPLE = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def from_dict(cls, data: Any, where: str, nested: dict[str, type] | None = None):
    """Strictly build dataclass ``cls`` from ``data``: known keys only, checked types.

    ``nested`` maps a field's type name to the dataclass it holds (read the same way);
    ``where`` prefixes every message (``config.model.ngf must be int``).
    """
    check(isinstance(data, dict), f"{where} must be an object, got {type(data).__name__}")
    known = {f.name: str(f.type) for f in fields(cls)}
    unknown = set(data) - set(known)
    check(not unknown, f"{where}: unknown keys {sorted(unknown)}")
    nested = {"ModelConfig": ModelConfig} | (nested or {})
    kwargs = {}
    for name, value in data.items():
        hint = known[name]
        if hint in nested:
            kwargs[name] = from_dict(nested[hint], value, f"{where}.{name}", nested)
        else:
            kwargs[name] = _checked(value, hint, f"{where}.{name}")
    return cls(**kwargs)


def _checked(value: Any, hint: str, where: str) -> Any:
    if hint in _SIMPLE:
        ok = isinstance(value, _SIMPLE[hint]) and not (hint in ("int", "float") and isinstance(value, bool))
        check(ok, f"{where} must be {hint}, got {type(value).__name__}")
        return float(value) if hint == "float" else value
    if hint == "str | None":
        check(value is None or isinstance(value, str), f"{where} must be a string or null")
        return value
    if hint == "dict[str, float]":
        check(isinstance(value, dict), f"{where} must be an object")
        for k, v in value.items():
            check(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool),
                f"{where}.{k} must be a number",
            )
        return {k: float(v) for k, v in value.items()}
    raise TypeError(f"{where}: unsupported field type {hint}")  # a programming error, not bad input
