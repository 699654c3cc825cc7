"""VGG19's convolutional trunk, as pix2pixHD's perceptual loss uses it.

Parameter names follow torchvision's ``vgg19().features`` (``features.0.weight`` ... ``features.34.bias``),
so a torchvision state dict (``vgg19-dcbb9e9d.pth``) loads directly; its ``classifier.*`` is ignored.
Input: ``(B, 3, H, W)`` RGB in ``[0, 1]`` normalised with the ImageNet mean/std.

Weights are looked for, in order: a path the user gives, the torch hub cache
(``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``), and a download into that cache when allowed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn

from dancenow.errors import InputError

log = logging.getLogger(__name__)

VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILENAME}"
# torchvision names its files after the first hex digits of their SHA-256.
VGG19_SHA256_PREFIX = "dcbb9e9d"
DOWNLOAD_TIMEOUT_S = 20

# VGG19 ("configuration E"): (channels, number of 3×3 conv + ReLU pairs) per block; a 2×2 max-pool ends
# each block.
_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
# torchvision indices (into ``features``) of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1: pix2pixHD's slices.
FEATURE_LAYERS = (1, 6, 11, 20, 29)
FEATURE_CHANNELS = (64, 128, 256, 512, 512)

NO_WEIGHTS_HINT = (
    "pass --vgg-weights PATH (torchvision's vgg19-dcbb9e9d.pth) or use --perceptual effnet-lite0"
)


class VGG19Trunk(nn.Sequential):
    """torchvision's ``vgg19().features`` layout (conv, ReLU, ..., max-pool at indices 4, 9, 18, 27, 36)
    whose forward stops at relu5_1 and returns the five pix2pixHD slices instead of the last output."""

    def __init__(self):
        layers: list[nn.Module] = []
        channels = 3
        for width, convs in _BLOCKS:
            for _ in range(convs):
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        super().__init__(*layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for index, layer in enumerate(self):
            x = layer(x)
            if index in FEATURE_LAYERS:
                out.append(x)
                if index == FEATURE_LAYERS[-1]:
                    break
        return out


class VGG19Features(nn.Module):
    """VGG19's conv layers with torchvision's parameter names (``features.<index>.weight``).

    ``features(x)``: ``(B, 3, H, W)`` (ImageNet-normalised) -> ``[relu1_1 (B, 64, H, W),
    relu2_1 (B, 128, H/2, W/2), relu3_1 (B, 256, H/4, ·), relu4_1 (B, 512, H/8, ·),
    relu5_1 (B, 512, H/16, W/16)]`` (sizes rounded down by the pools). Layers past relu5_1 are kept only so
    that a torchvision file loads with ``strict=True``; they are never run. Randomly initialised; use
    :meth:`from_file` for trained weights.
    """

    def __init__(self):
        super().__init__()
        # Named ``features`` like torchvision's attribute so the keys line up; calling it returns the list.
        self.features = VGG19Trunk()

    def forward(self, x: Tensor) -> list[Tensor]:
        """Same as ``features(x)``."""
        return self.features(x)

    @classmethod
    def from_file(cls, path: str | Path) -> VGG19Features:
        """Load a torchvision VGG19 state dict (``features.*``; ``classifier.*`` ignored). Eval mode."""
        state = load_state_dict_file(path, "VGG19")
        features = {k: v for k, v in state.items() if k.startswith("features.")}
        model = cls()
        expected = model.state_dict()
        missing = sorted(set(expected) - set(features))
        unexpected = sorted(set(features) - set(expected))
        if missing or unexpected:
            raise InputError(
                path,
                f"not a torchvision VGG19 state dict (missing {missing[:3]}, unexpected {unexpected[:3]})",
            )
        for key, value in features.items():
            if value.shape != expected[key].shape:
                raise InputError(
                    path, f"not a torchvision VGG19 state dict ({key} has shape {tuple(value.shape)})"
                )
        model.load_state_dict(features)
        return model.eval()


def load_state_dict_file(path: str | Path, what: str) -> dict[str, Tensor]:
    """``torch.load`` with ``weights_only=True``: a file holding anything but tensors and plain containers
    (which could run code when unpickled) is refused with an :class:`InputError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"{what} weights not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # The weights-only unpickler met a class it does not allow (or a broken pickle).
        raise InputError(path, f"refused to load {what} weights: not a plain state dict of tensors") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise InputError(path, f"{what} weights file is corrupt or truncated ({err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise InputError(path, f"refused to load {what} weights: not a plain state dict of tensors")
    return state


def hub_cache_path() -> Path:
    """Where torchvision (and we) keep ``vgg19-dcbb9e9d.pth``: ``<torch hub dir>/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILENAME


def find_vgg19_weights(path: str | Path | None = None) -> Path | None:
    """The VGG19 weights available without downloading: ``path`` when given (an :class:`InputError` if it
    does not exist, since the user asked for that file), else the hub cache file, else ``None``."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(path, f"VGG19 weights not found: {NO_WEIGHTS_HINT}")
        return path
    cached = hub_cache_path()
    return cached if cached.is_file() else None


def vgg19_weights(path: str | Path | None = None, *, allow_download: bool = False) -> Path:
    """The VGG19 weights file: ``path``, the hub cache, or (``allow_download``) a fresh download into the
    cache. :class:`InputError` with what to do when none of these works."""
    found = find_vgg19_weights(path)
    if found is not None:
        return found
    if not allow_download:
        raise InputError(None, f"VGG19 weights not found in {hub_cache_path().parent}: {NO_WEIGHTS_HINT}")
    return download_vgg19(hub_cache_path())


def download_vgg19(target: Path, url: str = VGG19_URL) -> Path:
    """Download torchvision's VGG19 (548 MB) to ``target``, checking its SHA-256 prefix.

    Written to a temporary file and renamed, so an interrupted download never leaves a truncated file
    where the cache lookup would take it for the real one.
    """
    log.info("downloading VGG19 weights from %s to %s", url, target)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if not digest.hexdigest().startswith(VGG19_SHA256_PREFIX):
            raise InputError(
                None, f"VGG19 weights downloaded from {url} have the wrong checksum: {NO_WEIGHTS_HINT}"
            )
        os.replace(tmp, target)
    except OSError as err:  # URLError, timeouts and disk errors are all OSErrors
        raise InputError(
            None,
            f"could not download VGG19 weights from {url} ({err}): save that file as {target}, "
            f"or {NO_WEIGHTS_HINT}",
        ) from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return target


def imagenet_normalize(x: Tensor) -> Tensor:
    """``(B, 3, H, W)`` in ``[-1, 1]`` -> VGG's input: ``[0, 1]`` then ImageNet mean/std per channel."""
    mean = x.new_tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    std = x.new_tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std
