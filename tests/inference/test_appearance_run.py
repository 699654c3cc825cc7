"""Appearance conditioning end to end: a tiny run with ``model.appearance: warped`` trains,
stores its retrieval bank, and transfers and evaluates with it; the stored index gives the
dataset's neighbours; a damaged bank is a one-line error."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from dancenow.data.dataset import FrameDataset
from dancenow.evaluation.evaluate import evaluate
from dancenow.inference.model import load_model
from dancenow.models.build import build_global_generator
from dancenow.models.config import ModelConfig
from dancenow.models.generators import generator_input
from dancenow.pose.posefile import PoseSequence, save_poses
from dancenow.runfolder.folder import APPEARANCE_FILES
from dancenow.synthetic.performer import SOURCE
from dancenow.synthetic.video import make_clip
from dancenow.training.run import train_run
from dancenow.video import probe

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def warped_run(tiny_dataset, tmp_path_factory):
    """The tiny preset with warped appearance, 2 steps per stage (global, local, face)."""
    run = tmp_path_factory.mktemp("appearance") / "run"
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_run(
            tiny_dataset,
            run,
            preset="tiny",
            max_steps=2,
            progress=False,
            overrides={"model": {"appearance": "warped", "appearance_neighbours": 2}},
        )
    finally:
        torch.set_num_threads(old)
    return run


def test_the_run_stores_its_bank_and_the_index_gives_the_same_neighbours(warped_run, tiny_dataset):
    for name in APPEARANCE_FILES.values():
        assert (warped_run / name).is_file()
    model = load_model(warped_run)
    assert model.config.model.appearance == "warped" and model.appearance is not None
    data = FrameDataset(tiny_dataset, "all", appearance="warped")
    queries = data.keypoints
    fresh = data.appearance_bank().retrieve(queries, 3)
    stored = model.appearance.retrieve(queries, 3)
    assert np.array_equal(fresh, stored) and (stored[:, 0] >= 0).all()
    # and the stored bank draws the same appearance input as the dataset
    t0 = data.info.split_range("train")[0]
    for t in (0, 5, len(queries) - 1):
        j = int(stored[t, 0])
        a = data.appearance_bank().condition(j, queries[t], "warped")
        b = model.appearance.condition(j, queries[t], "warped")
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert np.array_equal(np.asarray(model.appearance.frames[j]), np.asarray(data.frames[t0 + j]))


def test_transfer_and_evaluation_use_the_bank(warped_run, tiny_dataset, tmp_path, cli):
    kp = make_clip(tmp_path / "src.mp4", seconds=1.0, fps=12, size=(96, 128), appearance=SOURCE, seed=7)
    save_poses(tmp_path / "src.npz", PoseSequence(kp, fps=12, width=96, height=128, detector="synthetic"))
    out = tmp_path / "out.mp4"
    args = ("--source", tmp_path / "src.mp4", "--source-poses", tmp_path / "src.npz", "--no-audio")
    result = cli("transfer", "--model", warped_run, *args, "-o", out, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert probe(out).num_frames == 12
    scores = evaluate(warped_run, tiny_dataset, redetect=False, perceptual=False, progress=False)
    assert 0 < scores["model"]["body_ssim"] <= 1


def test_a_damaged_bank_is_a_one_line_error(warped_run, tmp_path, cli):
    run = tmp_path / "run"
    shutil.copytree(warped_run, run, ignore=shutil.ignore_patterns(".lock"))
    masks = np.load(run / APPEARANCE_FILES["masks"])
    np.save(run / APPEARANCE_FILES["masks"], masks[:-1])
    make_clip(tmp_path / "src.mp4", seconds=0.5, fps=8, size=(64, 64), seed=1)
    result = cli("transfer", "--model", run, "--source", tmp_path / "src.mp4", "-o", tmp_path / "o.mp4")
    cli.error(result, APPEARANCE_FILES["masks"], "expected")
    assert not (tmp_path / "o.mp4").exists()
    (run / APPEARANCE_FILES["index"]).unlink()
    result = cli("transfer", "--model", run, "--source", tmp_path / "src.mp4", "-o", tmp_path / "o.mp4")
    cli.error(result, APPEARANCE_FILES["index"], "missing")


def test_config_and_generator_input_channels():
    with pytest.raises(ValueError, match="appearance"):
        ModelConfig(appearance="both")
    with pytest.raises(ValueError, match="appearance_neighbours"):
        ModelConfig(appearance_neighbours=0)
    for mode, temporal, channels in (("none", True, 6), ("warped", True, 10), ("nearest", False, 7)):
        cfg = ModelConfig(appearance=mode, temporal=temporal, ngf=8, n_down=2, n_blocks=1)
        assert cfg.generator_in_channels == channels
        label = torch.zeros(1, 3, 16, 16)
        look = torch.ones(1, 4, 16, 16) if mode != "none" else None
        x = generator_input(label, None, look, temporal=temporal)
        assert x.shape[1] == channels
        assert build_global_generator(cfg)(x).shape == (1, 4, 16, 16)
