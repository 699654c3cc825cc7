"""Perceptual loss and its feature networks: pretrained EfficientNet-Lite0 (a real photo must be classified
correctly, DESIGN.md §8), a torchvision-format VGG19 (random weights here: the real file is 548 MB), and
the loss module's contracts (zero on equal images, gradients, frozen network kept out of checkpoints)."""

from __future__ import annotations

import hashlib
import io
import logging
import math
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dancenow.errors import InputError
from dancenow.losses import vgg
from dancenow.losses.effnet_lite import EfficientNetLite0, pretrained_weights_path
from dancenow.losses.perceptual import PerceptualLoss, resolve_perceptual
from dancenow.losses.vgg import VGG19Features

ESPRESSO = 967  # ImageNet class index


class NotATensor:
    """Stands for arbitrary pickled objects, which a weights-only load must refuse."""


@pytest.fixture(scope="module")
def effnet() -> EfficientNetLite0:
    return EfficientNetLite0.from_pretrained()


@pytest.fixture(scope="module")
def effnet_loss() -> PerceptualLoss:
    return PerceptualLoss("effnet-lite0")


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> Path:
    """A randomly initialised VGG19 saved like torchvision's file (with a classifier entry to ignore)."""
    torch.manual_seed(0)
    state = VGG19Features().state_dict()
    state["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path_factory.mktemp("vgg") / vgg.VGG19_FILENAME
    torch.save(state, path)
    return path


@pytest.fixture
def hub_dir(tmp_path, monkeypatch) -> Path:
    """An empty torch hub directory, so tests never see (or fill) the real cache."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    return tmp_path


def images(seed: int, size: tuple[int, int] = (64, 64), batch: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, *size, generator=g) * 2 - 1


# --- EfficientNet-Lite0 ------------------------------------------------------------------------------


def test_effnet_state_dict_matches_shipped_file(effnet):
    shipped = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    ours = effnet.state_dict()
    assert list(ours) == list(shipped)
    assert all(ours[k].shape == shipped[k].shape for k in ours)


def test_effnet_classifies_coffee_as_espresso(effnet):
    data = pytest.importorskip("skimage.data")
    photo = torch.from_numpy(data.coffee()).permute(2, 0, 1)[None].float() / 255  # (1, 3, 400, 600)
    x = F.interpolate(photo, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        probs = effnet((x - 0.5) / 0.5).softmax(dim=-1)[0]
    top = probs.topk(5)
    assert top.indices[0] == ESPRESSO, list(zip(top.indices.tolist(), top.values.tolist(), strict=True))
    assert probs[ESPRESSO] > 0.6


def test_effnet_feature_shapes_for_odd_sizes(effnet):
    with torch.no_grad():
        features = effnet.features(images(0, size=(37, 45), batch=2))
    shapes = [tuple(f.shape) for f in features]
    expected = [
        (2, c, math.ceil(37 / s), math.ceil(45 / s))
        for c, s in zip((16, 24, 40, 112, 320), (2, 4, 8, 16, 32), strict=True)
    ]
    assert shapes == expected


# --- VGG19 -------------------------------------------------------------------------------------------


def test_vgg_loads_torchvision_state_dict(vgg_file):
    model = VGG19Features.from_file(vgg_file)
    saved = torch.load(vgg_file, weights_only=True)
    assert set(model.state_dict()) == {k for k in saved if k.startswith("features.")}
    # torchvision's conv positions in vgg19().features (ReLUs and pools in between).
    conv_indices = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
    assert set(model.state_dict()) == {f"features.{i}.{p}" for i in conv_indices for p in ("weight", "bias")}
    assert torch.equal(model.state_dict()["features.34.weight"], saved["features.34.weight"])
    with torch.no_grad():
        features = model.features(torch.randn(1, 3, 40, 48))
    assert [tuple(f.shape) for f in features] == [
        (1, 64, 40, 48),
        (1, 128, 20, 24),
        (1, 256, 10, 12),
        (1, 512, 5, 6),
        (1, 512, 2, 3),
    ]


def test_vgg_missing_weights_say_what_to_do(hub_dir, tmp_path):
    with pytest.raises(InputError, match="--vgg-weights PATH .* --perceptual effnet-lite0"):
        vgg.vgg19_weights(None)
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(InputError) as err:
        vgg.vgg19_weights(missing)
    assert err.value.path == missing and "--vgg-weights" in str(err.value)
    with pytest.raises(InputError, match="--vgg-weights"):
        PerceptualLoss("vgg19")


def test_vgg_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "payload": NotATensor()}, path)
    with pytest.raises(InputError) as err:
        VGG19Features.from_file(path)
    assert err.value.path == path and "refused" in str(err.value)


def test_vgg_rejects_other_state_dicts(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(InputError, match="not a torchvision VGG19"):
        VGG19Features.from_file(path)


def test_vgg_download_failure_is_an_input_error(hub_dir, monkeypatch):
    def unreachable(url, timeout):
        assert timeout == vgg.DOWNLOAD_TIMEOUT_S
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(InputError, match="could not download .*--vgg-weights"):
        vgg.vgg19_weights(None, allow_download=True)
    assert list((hub_dir / "checkpoints").iterdir()) == []  # no partial file left behind


def test_vgg_download_checks_the_checksum(hub_dir, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"not the weights"))
    with pytest.raises(InputError, match="wrong checksum"):
        vgg.vgg19_weights(None, allow_download=True)
    assert list((hub_dir / "checkpoints").iterdir()) == []


def test_vgg_download_lands_in_the_hub_cache(hub_dir, monkeypatch):
    payload = b"pretend weights"
    monkeypatch.setattr(vgg, "VGG19_SHA256_PREFIX", hashlib.sha256(payload).hexdigest()[:8])
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload))
    path = vgg.vgg19_weights(None, allow_download=True)
    assert path == hub_dir / "checkpoints" / vgg.VGG19_FILENAME
    assert path.read_bytes() == payload


# --- resolution of --perceptual ----------------------------------------------------------------------


def test_auto_picks_effnet_without_vgg_in_cache(hub_dir, caplog):
    with caplog.at_level(logging.INFO, logger="dancenow.losses.perceptual"):
        assert resolve_perceptual("auto") == "effnet-lite0"
    assert "effnet-lite0" in caplog.text


def test_auto_picks_vgg_when_cached(hub_dir, vgg_file, caplog):
    (hub_dir / "checkpoints").mkdir()
    (hub_dir / "checkpoints" / vgg.VGG19_FILENAME).symlink_to(vgg_file)
    with caplog.at_level(logging.INFO, logger="dancenow.losses.perceptual"):
        assert resolve_perceptual("auto") == "vgg19"
    assert "vgg19" in caplog.text
    assert PerceptualLoss("auto").network_name == "vgg19"


def test_auto_with_explicit_path(hub_dir, vgg_file, tmp_path):
    assert resolve_perceptual("auto", vgg_weights=vgg_file) == "vgg19"
    with pytest.raises(InputError):  # a path the user typed must exist, not be silently replaced
        resolve_perceptual("auto", vgg_weights=tmp_path / "typo.pth")


def test_vgg19_resolution_fails_early_unless_download_allowed(hub_dir):
    with pytest.raises(InputError, match="--vgg-weights"):
        resolve_perceptual("vgg19")
    assert resolve_perceptual("vgg19", allow_download=True) == "vgg19"


def test_unknown_network_is_an_input_error():
    with pytest.raises(InputError, match="unknown perceptual network 'alexnet'"):
        resolve_perceptual("alexnet")
    with pytest.raises(InputError):
        PerceptualLoss("vgg16")


# --- PerceptualLoss ----------------------------------------------------------------------------------


def test_loss_is_zero_on_equal_images_and_positive_otherwise(effnet_loss):
    a, b = images(1), images(2)
    assert effnet_loss(a, a.clone()).item() == 0.0
    assert effnet_loss(a, b).item() > 0.0


def test_gradient_reaches_fake_but_not_the_network(effnet_loss):
    fake = images(3).requires_grad_(True)
    real = images(4).requires_grad_(True)
    effnet_loss(fake, real).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None  # the target is a constant
    assert all(not p.requires_grad and p.grad is None for p in effnet_loss.network.parameters())


def test_network_stays_out_of_state_dict_and_parameters(effnet_loss):
    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.perceptual = effnet_loss

    g = Generator()
    assert set(g.state_dict()) == {"conv.weight", "conv.bias"}
    assert len(list(g.parameters())) == 2
    g.train()
    assert not effnet_loss.network.training  # BatchNorm statistics never update


def test_to_moves_the_hidden_network(vgg_file):
    loss = PerceptualLoss("vgg19", vgg_weights=vgg_file)
    holder = nn.ModuleDict({"perceptual": loss}).to(torch.float64)
    assert all(p.dtype == torch.float64 for p in loss.network.parameters())
    value = holder["perceptual"](images(5).double(), images(6).double())
    assert value.dtype == torch.float64 and value.item() > 0


def test_any_size_from_32_px(effnet_loss, vgg_file):
    fake, real = images(7, size=(33, 47)), images(8, size=(33, 47))
    for loss in (effnet_loss, PerceptualLoss("vgg19", vgg_weights=vgg_file)):
        assert torch.isfinite(loss(fake, real))
    with pytest.raises(ValueError, match="at least 32"):
        effnet_loss(images(0, size=(31, 64)), images(0, size=(31, 64)))


def test_autocast_bfloat16_matches_float32(effnet_loss):
    fake = images(9, size=(64, 96)).requires_grad_(True)
    real = images(10, size=(64, 96))
    reference = effnet_loss(fake, real).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = effnet_loss(fake, real)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(reference, rel=0.1)
    value.backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


def test_none_is_a_differentiable_zero():
    loss = PerceptualLoss("none")
    assert loss.network is None and loss.state_dict() == {}
    fake = images(11).requires_grad_(True)
    value = loss(fake, images(12))
    assert value.item() == 0.0 and value.dtype == torch.float32
    value.backward()
    assert torch.equal(fake.grad, torch.zeros_like(fake))
