import pytest
import torch

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
            assert g(torch.zeros(1, m.generator_in_channels, s * 4, s * 2)).shape == (1, 3, s * 4, s * 2)


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
