import pytest
import torch
from torch import nn

from dancenow.models.blocks import norm_layer, up_norm_relu
from dancenow.models.build import (
    build_discriminators,
    build_face_discriminator,
    build_face_generator,
    build_generator,
)
from dancenow.models.generators import GlobalGenerator, LocalEnhancer
from dancenow.runfolder.config import load_preset


@pytest.fixture
def cfg():
    return load_preset("tiny").model


def test_global_generator_shape_and_range():
    g = GlobalGenerator(in_channels=6, ngf=8, n_down=3, n_blocks=1)
    y = g(torch.randn(2, 6, 64, 48))
    assert y.shape == (2, 3, 64, 48) and y.abs().max() <= 1


def test_local_enhancer_wraps_a_global_generator_and_reuses_its_weights(cfg):
    g = build_generator(cfg, with_local=False)
    local = LocalEnhancer(g, in_channels=6, ngf=cfg.local_ngf, n_blocks=1)
    assert local.global_generator is g
    y = local(torch.randn(1, 6, 64, 32))
    assert y.shape == (1, 3, 64, 32)
    own = local.local_state_dict()
    assert own and not any(k.startswith("global_generator") for k in own)
    # the global generator's to-RGB layer is not part of the enhanced forward pass
    y.mean().backward()
    assert g.to_rgb[1].weight.grad is None and g.features[0][1].weight.grad is not None


def test_local_enhancer_checks_filter_counts():
    with pytest.raises(ValueError, match="filters"):
        LocalEnhancer(GlobalGenerator(in_channels=6, ngf=8, n_down=2, n_blocks=1), in_channels=6, ngf=8)


def test_discriminators_return_features_per_scale(cfg):
    ds = build_discriminators(cfg)
    out = ds["spatial"](torch.randn(1, 6, 64, 64))
    assert len(out) == cfg.d_scales and len(out[0]) == cfg.d_layers + 2
    assert out[0][-1].shape[1] == 1 and out[1][-1].shape[-1] < out[0][-1].shape[-1]
    assert len(ds["temporal"](torch.randn(1, 12, 64, 64))) == cfg.d_scales


def test_face_generator_starts_as_identity_residual(cfg):
    f = build_face_generator(cfg)
    r = f(torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16))
    assert r.shape == (2, 3, 16, 16) and torch.count_nonzero(r) == 0
    d = build_face_discriminator(cfg)
    assert d(torch.randn(2, 6, 16, 16))[-1].shape[:2] == (2, 1)


def test_every_preset_builds_and_runs(cfg):
    for name in ("tiny", "cpu", "paper"):
        m = load_preset(name).model
        g = build_generator(m)
        s = m.size_multiple
        with torch.no_grad():
            # foreground RGB + alpha
            assert g(torch.zeros(1, m.generator_in_channels, s * 4, s * 2)).shape == (1, 4, s * 4, s * 2)


def test_instance_norm_kernels_agree():
    """The group-norm kernel computes pix2pixHD's instance norm: same outputs, same gradients."""
    from dancenow.models.blocks import InstanceNorm, set_norm_kernel

    torch.manual_seed(0)
    x = torch.randn(2, 8, 12, 10, dtype=torch.float64, requires_grad=True)
    norm = InstanceNorm(8)
    outs, grads = [], []
    for kernel in ("group", "instance"):
        set_norm_kernel(norm, kernel)
        y = norm(x)
        (g,) = torch.autograd.grad((y * torch.arange(y.numel()).reshape(y.shape)).sum(), x)
        outs.append(y.detach())
        grads.append(g)
    ref = torch.nn.functional.instance_norm(x.detach(), eps=1e-5)
    assert torch.allclose(outs[0], ref) and torch.allclose(outs[1], ref)
    assert torch.allclose(grads[0], grads[1])
    assert norm.state_dict() == {}
    with pytest.raises(ValueError, match="norm kernel"):
        set_norm_kernel(norm, "fast")


def _up_layers(module: nn.Module) -> list[nn.Sequential]:
    """The generator's upsampling layers: the blocks that double H and W."""
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.Sequential)
        and any(isinstance(c, (nn.Upsample, nn.ConvTranspose2d)) for c in m.children())
    ]


def _checkerboard(layer: nn.Module, channels: int) -> float:
    """Largest spatial range of ``layer``'s output, 2 px away from the borders, for an input that
    is constant in space (one random value per channel): 0 for an upsampler without checkerboard."""
    torch.manual_seed(0)
    x = torch.randn(1, channels, 1, 1).expand(1, channels, 10, 12).contiguous()
    with torch.no_grad():
        y = layer(x)[..., 2:-2, 2:-2]
    return float((y.amax(dim=(2, 3)) - y.amin(dim=(2, 3))).max())


def test_upsampling_doubles_the_size_with_the_parameters_of_a_transposed_conv():
    up = up_norm_relu(16, 8)
    assert up(torch.randn(2, 16, 7, 5)).shape == (2, 8, 14, 10)
    transposed = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
    assert sum(p.numel() for p in up.parameters()) == sum(p.numel() for p in transposed.parameters())


def test_no_generator_upsamples_with_a_checkerboard(cfg):
    """Odena et al. 2016: a stride-2 transposed convolution turns a flat input into a checkerboard;
    resize-then-convolve keeps it flat. Every upsampling layer of the body generator (global +
    local enhancer) and of the face generator is checked, before its norm (which would flatten
    any pattern a constant input makes into zeros)."""
    generators = [build_generator(cfg, with_local=True), build_face_generator(cfg)]
    layers = [layer for g in generators for layer in _up_layers(g)]
    assert len(layers) == cfg.n_down + 1 + cfg.face_down
    for layer in layers:
        conv = next(m for m in layer if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
        before_norm = layer[: list(layer).index(conv) + 1]
        assert _checkerboard(before_norm, conv.in_channels) < 1e-5, layer


def test_the_checkerboard_measure_catches_a_transposed_convolution():
    """The criterion above flags pix2pixHD's original layer, so it can fail."""
    torch.manual_seed(0)
    transposed = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
    assert _checkerboard(transposed, 16) > 0.05


def test_weights_of_the_transposed_conv_generator_are_refused(cfg, tmp_path, monkeypatch):
    """A run folder of format version 2 is refused by its version; were the version edited, its
    weights (same parameter count, other keys and shapes) still do not load silently."""
    from dancenow.errors import InputError
    from dancenow.models import generators
    from dancenow.runfolder.folder import load_into, save_weights

    def transposed(cin, cout, *, norm="instance"):  # pix2pixHD's layer, as run format 2 had it
        return nn.Sequential(
            nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
            norm_layer(norm, cout),
            nn.ReLU(True),
        )

    with monkeypatch.context() as m:
        m.setattr(generators, "up_norm_relu", transposed)
        old = build_generator(cfg, with_local=False)
    new = build_generator(cfg, with_local=False)
    assert sum(p.numel() for p in old.parameters()) == sum(p.numel() for p in new.parameters())
    path = tmp_path / "global_generator.safetensors"
    save_weights(path, old.state_dict())
    with pytest.raises(InputError, match="weights do not match config.json") as e:
        load_into(new, path)
    assert str(path) in str(e.value)
