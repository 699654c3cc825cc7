"""Training on tiny shapes: determinism, D/G step isolation, overfitting, save/load, exact resume."""

from __future__ import annotations

import json
from contextlib import nullcontext

import numpy as np
import pytest
import torch

from dancenow.data.dataset import PairDataset
from dancenow.inference.model import load_model
from dancenow.losses.perceptual import PerceptualLoss
from dancenow.models.generators import downsample2
from dancenow.runfolder.config import load_preset
from dancenow.training.distributed import DistInfo
from dancenow.training.loss import BodyLoss, FaceLoss, alpha_loss, gan_step, update
from dancenow.training.networks import Networks
from dancenow.training.run import train_run
from dancenow.training.trainer import Trainer


def _params(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _close(a: dict, b: dict, tol: float = 1e-5) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=tol, rtol=tol) for k in a)


class _Parts:
    """Networks and losses of the tiny preset, built in memory: no dataset, no run folder."""

    def __init__(self, **cfg_changes):
        self.cfg = load_preset("tiny")
        for k, v in cfg_changes.items():
            setattr(self.cfg, k, v)
        torch.manual_seed(self.cfg.seed)
        self.nets = Networks(self.cfg, torch.device("cpu"))
        perceptual = PerceptualLoss("none")
        self.body = BodyLoss(self.cfg.loss, perceptual, nullcontext, temporal=self.cfg.model.temporal)
        frozen = torch.channels_last if self.cfg.frozen_channels_last else torch.contiguous_format
        self.face = FaceLoss(self.cfg.loss, perceptual, nullcontext, finetune=False, frozen_format=frozen)

    def stage(self, stage: str):
        """(modules of one step, optimizers) of ``stage``."""
        return self.nets.for_stage(stage, DistInfo()), self.nets.optimizers(stage)


def _batch(side: int = 32, face: int = 8, seed: int = 0, borders: tuple[int, int] = (0, 0)) -> dict:
    """One frame pair as :class:`PairDataset` gives it, batched: random images, labels and plates
    in [-1, 1] (the tiny preset's global stage runs at 32 px), a person mask, and valid maps 0 on
    the ``borders = (previous, current)`` leftmost columns and top rows (the window beyond the
    video)."""
    g = torch.Generator().manual_seed(seed)
    images = {k: torch.rand(1, 3, side, side, generator=g) * 2 - 1 for k in IMAGE_KEYS}
    mask = torch.zeros(1, 1, side, side)
    mask[..., side // 4 : 7 * side // 8, side // 3 : 2 * side // 3] = 1
    out = images | {"face_box": torch.tensor([[4, 6, 4 + face, 6 + face]])}
    for suffix, border in zip(("_prev", ""), borders, strict=True):
        valid = torch.ones(1, 1, side, side)
        valid[..., :border, :] = 0
        valid[..., :, :border] = 0
        out |= {f"valid{suffix}": valid, f"mask{suffix}": mask.clone(), f"mask_weight{suffix}": torch.ones(1)}
        out[f"limbs{suffix}"] = torch.zeros(1, 1, side, side)  # no limb core: the recorded losses hold
    return out


IMAGE_KEYS = ("label_prev", "label", "image_prev", "image", "plate_prev", "plate")
PAIR_KEYS = (
    *IMAGE_KEYS,
    *("valid_prev", "valid", "mask_prev", "mask", "mask_weight_prev", "mask_weight", "limbs_prev", "limbs"),
)


def test_a_whole_gan_step_on_tensors_in_memory():
    """Every stage's step from tensors alone: named, finite losses; the trained networks move."""
    parts = _Parts()
    for stage, side, loss, trained in (
        ("global", 32, parts.body, "global_g"),
        ("local", 64, parts.body, "local"),
        ("face", 64, parts.face, "face_g"),
    ):
        nets, opt = parts.stage(stage)
        before = _params(getattr(parts.nets, trained))
        losses = gan_step(loss, nets, _batch(side), opt, fused=stage != "face")
        assert {loss.g_total, loss.d_total} <= losses.keys()
        assert ("g_alpha" in losses) == (stage != "face")
        assert all(torch.isfinite(v) for v in losses.values()), (stage, losses)
        assert not _same(_params(getattr(parts.nets, trained)), before), stage
    expected = {
        "face_gan",
        "face_fm",
        "face_perceptual",
        "face_total",
        "face_d",
        "face_l1",
        "face_l1_body_only",
    }
    assert set(losses) == expected


def test_same_seed_same_weights_and_different_seed_differs(tiny_dataset, tmp_path):
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        t = _trainer(tiny_dataset, tmp_path / name, seed=seed)
        t.train("global", max_steps=3)
        runs.append(_params(t.nets.global_g))
    assert _same(runs[0], runs[1])
    assert not _same(runs[0], runs[2])


def test_d_update_leaves_g_unchanged_and_g_update_leaves_d_unchanged():
    parts = _Parts()
    nets, opt = parts.stage("global")
    batch = _batch()
    g, d = parts.nets.global_g, parts.nets.d
    fake = parts.body.generate(nets, batch)
    g0, d0 = _params(g), _params(d)
    losses, _ = parts.body.d_losses(nets, batch, fake)
    update(losses, {"d_total": opt["d"]})
    assert _same(_params(g), g0) and not _same(_params(d), d0)
    d1 = _params(d)
    update(parts.body.g_losses(nets, batch, fake), {"g_total": opt["g"]})
    assert _same(_params(d), d1) and not _same(_params(g), g0)


def test_fused_step_is_pix2pixhd_update():
    """One fused step == a G update then a D update, both against the same (not yet updated) D."""
    fused, ref = _Parts(), _Parts()
    assert _same(_params(fused.nets.global_g), _params(ref.nets.global_g))
    batch = _batch()
    nets_f, opt_f = fused.stage("global")
    g0 = _params(fused.nets.global_g)
    losses = gan_step(fused.body, nets_f, batch, opt_f, fused=True)
    nets_r, opt_r = ref.stage("global")
    fake = ref.body.generate(nets_r, batch)
    expected = ref.body.g_losses(nets_r, batch, fake)
    update(expected, {"g_total": opt_r["g"]})
    d_losses, _ = ref.body.d_losses(nets_r, batch, fake)
    update(d_losses, {"d_total": opt_r["d"]})
    expected |= d_losses
    assert not _same(_params(fused.nets.global_g), g0)
    assert _close(_params(fused.nets.global_g), _params(ref.nets.global_g))
    assert _close(_params(fused.nets.d), _params(ref.nets.d))
    for k in ("d_spatial", "d_temporal", "g_gan", "g_fm", "g_perceptual", "g_alpha", "g_total"):
        assert torch.allclose(losses[k], expected[k], atol=1e-5), k


def test_face_step_with_the_frozen_generator_channels_last_is_the_same_step():
    """The face stage's frozen body generator may run channels-last: same losses, same update.

    Runs in fp32 on purpose (the losses here use no autocast): the claim is about memory formats,
    and under bf16 autocast the two formats take different oneDNN kernels whose bf16 roundings
    differ by ~1e-2 relative, which says nothing about whether the step is the same."""
    steps = {}
    for fmt in (True, False):
        parts = _Parts(frozen_channels_last=fmt)
        nets, opt = parts.stage("local")  # G must not be the untouched initialization
        gan_step(parts.body, nets, _batch(64), opt, fused=True)
        nets, opt = parts.stage("face")
        body = next(nets["g"].parameters())
        assert body.is_contiguous(memory_format=torch.channels_last) == (fmt and body.ndim == 4)
        losses = gan_step(parts.face, nets, _batch(64, seed=1), opt, fused=False)
        steps[fmt] = (
            {k: float(v.detach()) for k, v in losses.items()},
            _params(parts.nets.face_g),
            _params(parts.nets.global_g),
        )
    (loss_cl, face_cl, body_cl), (loss_ref, face_ref, body_ref) = steps[True], steps[False]
    assert loss_cl.keys() == loss_ref.keys()
    assert all(abs(loss_cl[k] - loss_ref[k]) <= 1e-4 * max(1.0, abs(loss_ref[k])) for k in loss_ref)
    assert _close(face_cl, face_ref, tol=1e-4) and _same(body_cl, body_ref)


def test_overfits_one_batch(tiny_dataset):
    """On one frame pair the reconstruction error must fall by well over half."""
    parts = _Parts()
    nets, opt = parts.stage("global")
    item = PairDataset(tiny_dataset, "train")[0]
    batch = {k: downsample2(item[k][None]) if item[k].ndim == 3 else item[k][None] for k in PAIR_KEYS}
    first = None
    for _ in range(150):
        losses = gan_step(parts.body, nets, batch, opt, fused=True)
        first = first if first is not None else float(losses["l1"])
    print(f"L1 {first:.3f} -> {float(losses['l1']):.3f}")
    assert losses["l1"] < 0.4 * first


def _noise_where_invalid(x: torch.Tensor, valid: torch.Tensor, seed: int) -> torch.Tensor:
    """``x`` with random values in [-1, 1] where ``valid`` is 0, unchanged where it is 1."""
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return torch.where(valid == 1, x, noise)


class _ScribbleBeyondTheVideo:
    """A forward hook on the body generator: random values added to its output (foreground and
    alpha) where the frame's valid map is 0. :class:`PairGenerator` runs the previous frame,
    then the current one."""

    def __init__(self, valids: tuple[torch.Tensor, torch.Tensor], seed: int):
        self.valids, self.calls = valids, 0
        self.rng = torch.Generator().manual_seed(seed)

    def __call__(self, module, args, out):
        valid = self.valids[self.calls % 2]
        self.calls += 1
        return out + 3 * torch.randn(out.shape, generator=self.rng) * (1 - valid)


def _step_losses(stage: str, batch: dict, fused: bool, scribble: bool) -> tuple[dict, dict]:
    """Every loss of one ``stage`` step of fresh tiny networks, and all their weights after it."""
    parts = _Parts()
    nets, opt = parts.stage(stage)
    if scribble:
        hook = _ScribbleBeyondTheVideo((batch["valid_prev"], batch["valid"]), seed=5)
        nets["g"].generator.register_forward_hook(hook)
    loss = parts.face if stage == "face" else parts.body
    losses = gan_step(loss, nets, batch, opt, fused=fused)
    weights = {f"{name}.{k}": v for name, m in nets.items() if name != "d" for k, v in _params(m).items()}
    if "d" in nets:
        weights |= {f"d.{name}.{k}": v for name, m in nets["d"].items() for k, v in _params(m).items()}
    return {k: v.detach() for k, v in losses.items()}, weights


@pytest.mark.parametrize(
    ("stage", "side", "fused"),
    [
        ("global", 32, True),
        ("global", 32, False),
        ("local", 64, True),
        ("local", 64, False),
        ("face", 64, False),
    ],
)
def test_pixels_beyond_the_video_never_reach_a_loss(stage, side, fused):
    """Crop pixels beyond the video (valid 0) hold whatever: black in the real frames and masks,
    the plate's border, anything the generator draws there. Changing all of them changes no loss and no
    weight update, in the fused and the reference step, the body and the face stages (whose
    face box here reaches beyond the video)."""
    clean = _batch(side, borders=(side // 8, side // 4))  # the window moved between the frames
    x0, y0 = side // 4 - 4, side // 4 - 6  # an 8-pixel face box across the current frame's border
    clean["face_box"] = torch.tensor([[x0, y0, x0 + 8, y0 + 8]])
    in_box = clean["valid"][0, 0, y0 : y0 + 8, x0 : x0 + 8]
    assert in_box.min() == 0 and in_box.max() == 1  # the face box reaches beyond the video
    dirty = dict(clean)
    for i, key in enumerate(("image_prev", "image", "plate_prev", "plate", "mask_prev", "mask")):
        suffix = "_prev" if key.endswith("_prev") else ""
        dirty[key] = _noise_where_invalid(clean[key], clean[f"valid{suffix}"], seed=10 + i)
        assert not torch.equal(dirty[key], clean[key])
    losses, weights = _step_losses(stage, clean, fused, scribble=False)
    dirty_losses, dirty_weights = _step_losses(stage, dirty, fused, scribble=True)
    assert losses.keys() == dirty_losses.keys()
    for k in losses:
        assert torch.equal(losses[k], dirty_losses[k]), k
    assert _same(weights, dirty_weights)
    # ...whereas the same change inside the video does reach them.
    inside = dict(clean)
    inside["image"] = _noise_where_invalid(clean["image"], 1 - clean["valid"], seed=20)
    changed, _ = _step_losses(stage, inside, fused, scribble=False)
    total = "face_total" if stage == "face" else "g_total"
    assert not torch.equal(changed[total], losses[total])


def test_alpha_loss_is_the_l1_to_the_mask_away_from_its_edge():
    """Mean |alpha - mask| over the valid pixels outside a band around the mask's edge, leaving
    out samples of weight 0 (a mask that lost the person)."""
    side = 50  # the band: 1 pixel each side of the edge (2 % of 50)
    mask = torch.zeros(2, 1, side, side)
    mask[:, :, 10:40, 20:30] = 1
    valid, weight = torch.ones(2, 1, side, side), torch.ones(2)
    assert alpha_loss(mask.clone(), mask, valid, weight) == 0
    # alpha 0: wrong on the person's pixels away from the band (28 x 8 of them)
    band = torch.zeros(side, side, dtype=torch.bool)
    band[9:41, 19:31] = True
    band[11:39, 21:29] = False
    expected = 28 * 8 / (side * side - band.sum().item())
    assert alpha_loss(torch.zeros_like(mask), mask, valid, weight).item() == pytest.approx(expected)
    # anything in the band is the generator's own choice (soft edges, hair, shadows)...
    soft = mask.clone()
    soft[:, 0, band] = torch.rand(int(band.sum()))
    assert alpha_loss(soft, mask, valid, weight) == 0
    # ...one pixel beyond it is not
    soft[:, 0, 8, 25] = 1
    assert alpha_loss(soft, mask, valid, weight) > 0
    # a sample of weight 0 counts for nothing, whatever its alpha
    wrong = mask.clone()
    wrong[1] = 1 - mask[1]
    assert alpha_loss(wrong, mask, valid, torch.tensor([1.0, 0.0])) == 0
    assert alpha_loss(wrong, mask, valid, weight) > 0
    assert alpha_loss(wrong, mask, valid, torch.zeros(2)) == 0  # and no division by zero
    # beyond the video: neither counted, nor an edge of the person (cut by the frame's edge here)
    valid[:, :, :, :25] = 0
    cut = mask * valid
    # the band: rows 9..40 x columns 25..30 less rows 11..38 x columns 25..28 (none at column 25)
    band = 32 * 6 - 28 * 4
    expected = 28 * 4 / (side * 25 - band)
    assert alpha_loss(torch.zeros_like(mask), cut, valid, weight).item() == pytest.approx(expected)
    assert alpha_loss(torch.zeros_like(mask), mask, valid, weight).item() == pytest.approx(expected)


def test_alpha_loss_covers_a_thin_limb_inside_the_mask():
    """A forearm 8 px wide at 256 px falls wholly inside the mask's edge band (±5 px): without its
    core the alpha loss cannot see it vanish; with it, a limb left out costs, one drawn does not."""
    from dancenow.pose.limbs import limb_core_map

    h, w = 256, 192
    kp = np.zeros((137, 3), np.float32)
    kp[3], kp[4] = (40, 100, 1), (110, 100, 1)  # right elbow -> right wrist, horizontal
    mask = torch.zeros(1, 1, h, w)
    mask[:, :, 96:104, 36:114] = 1  # the forearm, 8 px wide
    mask[:, :, 60:200, 110:170] = 1  # and the rest of the body
    limbs = torch.from_numpy(limb_core_map(kp, h, w))[None, None]
    assert (limbs * mask).sum() == limbs.sum() > 0  # the core lies on the limb
    valid, weight = torch.ones(1, 1, h, w), torch.ones(1)
    lost = mask.clone()
    lost[:, :, 96:104, 36:100] = 0  # the model leaves the forearm out
    assert alpha_loss(lost, mask, valid, weight) == 0  # the band swallows it
    assert alpha_loss(lost, mask, valid, weight, limbs) > 0
    assert alpha_loss(mask, mask, valid, weight, limbs) == 0
    # the core is asked for even where the mask lost the limb, and in a frame whose mask is empty
    assert alpha_loss(lost, lost, valid, weight, limbs) > 0
    assert alpha_loss(torch.maximum(lost, limbs), lost, valid, weight, limbs) == 0
    assert alpha_loss(lost, torch.zeros_like(mask), valid, torch.zeros(1), limbs) > 0


def _trainer(tiny_dataset, run, **cfg_changes) -> Trainer:
    cfg = load_preset("tiny")
    for k, v in cfg_changes.items():
        setattr(cfg, k, v)
    return Trainer(cfg, tiny_dataset, run, DistInfo(), progress=False)


def test_run_folder_and_safetensors_round_trip(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    assert train_run(tiny_dataset, run, preset="tiny", max_steps=2, progress=False) == [
        "global",
        "local",
        "face",
    ]
    for name in (
        "config.json",
        "global_generator.safetensors",
        "local_enhancer.safetensors",
        "face_generator.safetensors",
        "metrics.jsonl",
        "target_poses.npz",
        "checkpoint/training_state.pt",
        "checkpoint/discriminators.safetensors",
    ):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert {p.name.split("_")[0] for p in (run / "samples").glob("*.png")} == {"global", "local", "face"}
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in records} == {"global", "local", "face"} and all(
        "images_per_s" in r for r in records
    )
    state = torch.load(run / "checkpoint/training_state.pt", weights_only=True)
    assert state["completed"] == ["global", "local", "face"]

    model = load_model(run)
    again = load_model(run)
    x = torch.randn(1, 6, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.generator(x), again.generator(x))
    assert model.face_generator is not None and model.size == (64, 64)
    # the loaded weights are the trained ones (not a fresh initialisation)
    fresh = _Parts().nets.global_g
    assert not _same(_params(fresh), _params(model.generator.global_generator))


def test_resume_continues_exactly(tiny_dataset, tmp_path):
    """Stopping after 3 of 7 steps and resuming gives the same weights as 7 uninterrupted steps."""
    from dancenow.training.trainer import TrainingInterrupted

    train_run(tiny_dataset, tmp_path / "straight", preset="tiny", stage="global", max_steps=7, progress=False)
    with pytest.raises(TrainingInterrupted):
        train_run(
            tiny_dataset,
            tmp_path / "resumed",
            preset="tiny",
            stage="global",
            max_steps=7,
            progress=False,
            stop_after=3,
        )
    state = torch.load(tmp_path / "resumed/checkpoint/training_state.pt", weights_only=True)
    assert state["step"] == 3 and state["completed"] == []
    train_run(tiny_dataset, tmp_path / "resumed", stage="global", resume=True, progress=False)
    a = load_model(tmp_path / "straight").generator.state_dict()
    b = load_model(tmp_path / "resumed").generator.state_dict()
    assert _same(a, b)
    da = torch.load(tmp_path / "straight/checkpoint/training_state.pt", weights_only=True)
    db = torch.load(tmp_path / "resumed/checkpoint/training_state.pt", weights_only=True)
    assert da["step"] == db["step"] == 7
