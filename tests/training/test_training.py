"""Training on tiny shapes: determinism, D/G step isolation, overfitting, save/load, exact resume."""

from __future__ import annotations

import json

import pytest
import torch

from dancenow.data.dataset import PairDataset
from dancenow.inference.model import load_model
from dancenow.training.config import load_preset
from dancenow.training.distributed import DistInfo
from dancenow.training.run import train_run
from dancenow.training.trainer import Trainer


def _params(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _trainer(tiny_dataset, run, **cfg_changes) -> Trainer:
    cfg = load_preset("tiny")
    for k, v in cfg_changes.items():
        setattr(cfg, k, v)
    return Trainer(cfg, tiny_dataset, run, DistInfo(), progress=False)


def _batch(tiny_dataset, trainer: Trainer, stage: str = "global") -> dict:
    item = PairDataset(tiny_dataset, "train")[0]
    return trainer.batch_to({k: v[None] for k, v in item.items()}, trainer.stage_scale(stage))


def test_same_seed_same_weights_and_different_seed_differs(tiny_dataset, tmp_path):
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        t = _trainer(tiny_dataset, tmp_path / name, seed=seed)
        t.train("global", max_steps=3)
        runs.append(_params(t.global_g))
    assert _same(runs[0], runs[1])
    assert not _same(runs[0], runs[2])


def test_d_step_leaves_g_unchanged_and_g_step_leaves_d_unchanged(tiny_dataset, tmp_path):
    t = _trainer(tiny_dataset, tmp_path)
    g, d = t.generator("global"), t.d
    opt = t.make_optimizers("global")
    batch = _batch(tiny_dataset, t)
    fakes = t.forward_pair(g, batch)
    g0, d0 = _params(g), _params(d)
    t.d_step(batch, fakes, d, opt["d"])
    assert _same(_params(g), g0) and not _same(_params(d), d0)
    d1 = _params(d)
    t.g_step(batch, fakes, d, opt["g"])
    assert _same(_params(d), d1) and not _same(_params(g), g0)
    assert all(p.requires_grad for p in d.parameters()), "D must be trainable again after the G step"


def _close(a: dict, b: dict, tol: float = 1e-5) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=tol, rtol=tol) for k in a)


def test_fused_step_is_pix2pixhd_update(tiny_dataset, tmp_path):
    """One fused step == a G step then a D step, both against the same (not yet updated) D."""
    fused = _trainer(tiny_dataset, tmp_path / "fused")
    ref = _trainer(tiny_dataset, tmp_path / "ref")
    assert _same(_params(fused.global_g), _params(ref.global_g)) and _same(_params(fused.d), _params(ref.d))
    batch = _batch(tiny_dataset, fused)
    opt_f, opt_r = fused.make_optimizers("global"), ref.make_optimizers("global")
    g0 = _params(fused.global_g)
    fused_fakes = fused.forward_pair(fused.global_g, batch)
    losses = fused.fused_step(batch, fused_fakes, fused.d, opt_f["g"], opt_f["d"])
    fakes = ref.forward_pair(ref.global_g, batch)
    expected = ref.g_step(batch, fakes, ref.d, opt_r["g"])
    expected |= ref.d_step(batch, fakes, ref.d, opt_r["d"])
    assert not _same(_params(fused.global_g), g0)
    assert _close(_params(fused.global_g), _params(ref.global_g))
    assert _close(_params(fused.d), _params(ref.d))
    for k in ("d_spatial", "d_temporal", "g_gan", "g_fm", "g_perceptual", "g_total"):
        assert torch.allclose(losses[k], expected[k], atol=1e-5), k
    assert all(p.requires_grad for p in fused.d.parameters())


def test_face_step_with_the_frozen_generator_channels_last_is_the_same_step(tiny_dataset, tmp_path):
    """The face stage's frozen body generator may run channels-last: same losses, same update.

    Runs in fp32 on purpose: the claim is about memory formats, and under bf16 autocast the two
    formats take different oneDNN kernels whose bf16 roundings differ by ~1e-2 relative, which
    says nothing about whether the step is the same."""
    steps = {}
    for fmt in (True, False):
        t = _trainer(tiny_dataset, tmp_path / str(fmt), frozen_channels_last=fmt, precision="fp32")
        t.train("global", max_steps=1)  # G must not be the untouched initialization
        opt = t.make_optimizers("face")
        modules = t._wrap("face", t.generator("face"))
        body = next(modules["g"].parameters())
        assert body.is_contiguous(memory_format=torch.channels_last) == (fmt and body.ndim == 4)
        losses = t.face_step(
            _batch(tiny_dataset, t, "face"),
            modules["g"],
            modules["face_g"],
            modules["face_d"],
            opt["g"],
            opt["d"],
        )
        steps[fmt] = (losses, _params(t.face_g), _params(t.global_g))
    (loss_cl, face_cl, body_cl), (loss_ref, face_ref, body_ref) = steps[True], steps[False]
    assert loss_cl.keys() == loss_ref.keys()
    assert all(abs(loss_cl[k] - loss_ref[k]) <= 1e-4 * max(1.0, abs(loss_ref[k])) for k in loss_ref)
    assert _close(face_cl, face_ref, tol=1e-4) and _same(body_cl, body_ref)


def test_overfits_one_batch(tiny_dataset, tmp_path):
    """On one frame pair the reconstruction error must fall by well over half."""
    t = _trainer(tiny_dataset, tmp_path)
    g = t.generator("global")
    opt = t.make_optimizers("global")
    batch = _batch(tiny_dataset, t)
    first = None
    for _ in range(150):
        losses = t.body_step(batch, g, t.d, opt["g"], opt["d"])
        first = first if first is not None else losses["l1"]
    print(f"L1 {first:.3f} -> {losses['l1']:.3f}")
    assert losses["l1"] < 0.4 * first


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
    fresh = Trainer(load_preset("tiny"), tiny_dataset, tmp_path / "fresh", DistInfo(), progress=False)
    assert not _same(_params(fresh.global_g), _params(model.generator.global_generator))


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
