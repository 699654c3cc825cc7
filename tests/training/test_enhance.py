"""The full-size enhancer (issue #23): identity before training, patches inside the video, and
the stage end to end on a tiny run (trained, loaded, used by transfer and evaluate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dancenow.data.fullsize import MAX_HEIGHT, FullSizeFrame, FullSizeInputs, output_size
from dancenow.inference.transfer import Compositor
from dancenow.models.enhancer import Enhancer, enhance, refine
from dancenow.training.enhance import EnhancePatches, inside_box

pytestmark = pytest.mark.usefixtures("one_thread")


def _frame_inputs(rng, model_size, window_size, source_size=(200, 160)):
    background = rng.integers(0, 256, (source_size[1], source_size[0], 3), dtype=np.uint8)
    w, h = model_size
    crop = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = rng.random((h, w)).astype(np.float32)
    kp = np.zeros((137, 3), np.float32)
    kp[:25] = [w / 2, h / 2, 1.0]
    kp[:25, 1] += np.linspace(-h / 3, h / 3, 25)
    inputs = FullSizeInputs(background, source_size, window_size, model_size)
    return background, crop, alpha, kp, inputs


@pytest.mark.parametrize("window_size", [(48, 64), (96, 128)])
def test_untrained_enhancer_is_the_plain_enlargement(window_size):
    """Zero last layer: the enhanced crop and alpha are the enlarged ones, so the frame written
    is the one the plain compositor writes (at scale 1 and 2)."""
    rng = np.random.default_rng(0)
    background, crop, alpha, kp, inputs = _frame_inputs(rng, (48, 64), window_size)
    window = (30, 20, 30 + window_size[0], 20 + window_size[1])
    full = inputs(crop, alpha, kp, window)
    x = {k: v[None] for k, v in full.tensors().items()}
    net = Enhancer(ngf=8, n_blocks=1).eval()
    with torch.no_grad():
        rgb, a = refine(net, x["composite"], x["alpha"], x["label"], x["plate"])
        frame, a2 = enhance(net, x["composite"], x["alpha"], x["label"], x["plate"])
    assert torch.equal(rgb, x["composite"]) and torch.equal(a, x["alpha"]) and torch.equal(a2, a)
    plain = x["plate"] + x["alpha"] * (x["composite"] - x["plate"])
    assert torch.allclose(frame, plain, atol=1e-6)
    compositor = Compositor(background)
    rgb_img = ((rgb[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    if window_size == (48, 64):
        assert np.array_equal(rgb_img, crop) and np.allclose(a[0, 0].numpy(), alpha, atol=1e-6)
    assert np.array_equal(
        compositor(rgb_img, a[0, 0].numpy(), window), compositor(crop, alpha, window)
    )


def test_output_size_caps_the_height():
    assert output_size((600, 800)) == (600, 800)
    w, h = output_size((1200, 1600))
    assert h == MAX_HEIGHT and w == 768


def test_enhancer_keeps_any_size_and_starts_at_zero():
    net = Enhancer(ngf=8, n_blocks=2)
    out = net(torch.randn(2, 10, 33, 47))
    assert out.shape == (2, 4, 33, 47) and torch.count_nonzero(out) == 0


def _fake_frame(rng, h, w, valid_box):
    valid = np.zeros((h, w), bool)
    x0, y0, x1, y1 = valid_box
    valid[y0:y1, x0:x1] = True
    alpha = np.zeros((h, w), np.float32)
    alpha[h // 4 : 3 * h // 4, : w // 3] = 1.0  # a person partly beyond the video (left edge)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    image[~valid] = 0
    label = np.zeros((h, w, 3), np.uint8)
    return FullSizeFrame(image, alpha, label, image, valid), image


def test_patches_stay_inside_the_video_and_on_the_person():
    rng = np.random.default_rng(1)
    frames, reals = [], []
    boxes = [(40, 0, 200, 160), (0, 30, 120, 160), (0, 0, 24, 40)]  # the last: no whole patch
    for box in boxes:
        f, real = _fake_frame(rng, 160, 200, box)
        frames.append(f)
        reals.append(real)
    patches = EnhancePatches(frames, reals, [5, 6, 7], patch=32, seed=0)
    assert len(patches) == 2 and patches.indices == [5, 6]  # the frame without room is left out
    on_person = 0
    for i in range(len(patches)):
        x0, y0, x1, y1 = inside_box(patches.frames[i].valid)
        for _ in range(200):
            px, py = patches.window(i)
            assert x0 <= px and px + 32 <= x1 and y0 <= py and py + 32 <= y1
            on_person += patches.frames[i].alpha[py : py + 32, px : px + 32].max() > 0
    assert on_person == 400  # every patch is centred on the person (clamped inside the video)
    item = patches[0]
    assert item["image"].shape == (3, 32, 32) and item["alpha"].shape == (1, 32, 32)
    assert (item["image"] > -1).any()  # never the black beyond the video only


@pytest.fixture(scope="module")
def enhanced_run(tiny_dataset, tmp_path_factory):
    from dancenow.training.run import train_run

    run = tmp_path_factory.mktemp("enhance") / "run"
    overrides = {"model": {"enhance": True}, "optim": {"enhance_patch": 32, "enhance_frames": 8}}
    done = train_run(tiny_dataset, run, preset="tiny", max_steps=2, progress=False, overrides=overrides)
    assert done == ["global", "local", "face", "enhance"]
    return run


def test_enhance_stage_is_trained_loaded_and_resumable(enhanced_run, tiny_dataset):
    from dancenow.inference.model import load_model
    from dancenow.runfolder.folder import load_checkpoint
    from dancenow.training.run import train_run

    assert (enhanced_run / "enhancer.safetensors").is_file()
    weights, state = load_checkpoint(enhanced_run)
    assert {"enhancer", "enhance_discriminator"} <= set(weights) and state["stage"] == "enhance"
    model = load_model(enhanced_run)
    assert model.enhancer is not None
    tail = model.enhancer.tail[1].weight
    assert torch.count_nonzero(tail) > 0  # two Adam steps moved the zero layer
    # a resumed run with nothing left to do changes nothing
    assert train_run(tiny_dataset, enhanced_run, resume=True, progress=False) == [
        "global",
        "local",
        "face",
        "enhance",
    ]


def test_transfer_with_and_without_the_enhancer_writes_the_same_frames(enhanced_run, tmp_path):
    from dancenow.inference.transfer import transfer
    from dancenow.pose.posefile import PoseSequence, save_poses
    from dancenow.synthetic.performer import SOURCE
    from dancenow.synthetic.video import make_clip
    from dancenow.video import probe

    kp = make_clip(tmp_path / "src.mp4", seconds=1, fps=8, size=(96, 128), appearance=SOURCE, seed=2)
    save_poses(tmp_path / "src.npz", PoseSequence(kp, fps=8, width=96, height=128, detector="synthetic"))
    kw = {"source_poses": tmp_path / "src.npz", "audio": False, "progress": False}
    a = transfer(enhanced_run, tmp_path / "src.mp4", tmp_path / "with.mp4", **kw)
    b = transfer(enhanced_run, tmp_path / "src.mp4", tmp_path / "without.mp4", enhance=False, **kw)
    assert a.frames == b.frames == 8
    assert probe(a.output).num_frames == probe(b.output).num_frames == 8


def test_evaluate_scores_with_and_without_the_enhancer(enhanced_run, tiny_dataset):
    from dancenow.evaluation.evaluate import evaluate

    results = evaluate(enhanced_run, tiny_dataset, redetect=False, perceptual=False, progress=False)
    m = results["model"]
    assert {"full_body_ssim", "plain_full_body_ssim", "full_sharpness", "plain_full_sharpness"} <= set(m)
    plain = evaluate(
        enhanced_run, tiny_dataset, redetect=False, perceptual=False, progress=False, enhance=False
    )["model"]
    assert "plain_full_body_ssim" not in plain
    assert plain["full_body_ssim"] == pytest.approx(m["plain_full_body_ssim"])
