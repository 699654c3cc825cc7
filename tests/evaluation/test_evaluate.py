import json

import torch

from dancenow.training.run import train_run


def test_evaluate_model_and_baseline_writes_reports(tiny_dataset, tmp_path, cli):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    train_run(tiny_dataset, run, preset="tiny", max_steps=2, progress=False)
    out = tmp_path / "eval"
    result = cli(
        "evaluate",
        "--model",
        run,
        "--data",
        tiny_dataset,
        "--baseline",
        "nearest-pose",
        "--out",
        out,
        "--json",
        tmp_path / "e.json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "e.json").read_text())
    assert summary["frames"] == 6  # the last 20 % of 30 frames
    for method in ("model", "nearest-pose"):
        assert 0 < summary[method]["body_ssim"] <= 1 and "missed_body_rate" in summary[method]
        assert summary[method]["body_stlpips_alex"] > 0 and 0 < summary[method]["body_l1"] < 1
        assert 0 <= summary[method]["pck_torso"] <= 1 and "raised_wrist_kept" in summary[method]
    for name in (
        "evaluation.json",
        "frames.csv",
        "evaluation.md",
        "metrics_over_time.png",
        "worst_frames.png",
        "heldout_frames.png",
    ):
        assert (out / name).is_file(), name
    import cv2

    sheet = cv2.imread(str(out / "heldout_frames.png"))  # 4 columns of pose | generated | real
    h, w = cv2.imread(str(out / "worst_frames.png")).shape[:2]
    assert sheet.shape[0] == h // 2 * 3 and sheet.shape[1] == 4 * (w // min(6, summary["frames"]))
    assert "nearest-pose" in result.stdout


def test_evaluate_needs_something_to_score(tiny_dataset, cli):
    cli.error(cli("evaluate", "--data", tiny_dataset), "nothing to evaluate")


def long_dataset(src, dst, held_out: int):
    """benchmarks/evaluate_memory.py's copy of ``src`` whose held-out split repeats its own
    frames ``held_out`` times over (the benchmark and this test measure the same thing)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from evaluate_memory import long_dataset as make

    return make(src, dst, held_out)


def test_evaluate_memory_does_not_grow_with_the_held_out_frames(tiny_dataset, tiny_run, tmp_path):
    """Peak traced allocations (numpy frames and Python objects) at 40 and 160 held-out frames:
    holding the frames would add at least two 64x64 frames per extra frame (real and baseline)."""
    import tracemalloc

    from dancenow.evaluation.evaluate import evaluate

    torch.set_num_threads(1)
    peaks = {}
    for n in (40, 160):
        ds = long_dataset(tiny_dataset, tmp_path / f"ds{n}", n)
        tracemalloc.start()
        result = evaluate(
            tiny_run, ds, baseline="nearest-pose", redetect=False, perceptual=False, progress=False
        )
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result["frames"] == n and result["model"]["frames"] == n
    # measured: the frame-holding version grew by 16 frames per frame, this one by 0.2 (its rows)
    growth_per_frame = (peaks[160] - peaks[40]) / 120
    assert growth_per_frame < 0.5 * 64 * 64 * 3, peaks


def test_scores_leave_out_what_lies_beyond_the_video():
    """``inside``: only that part of the evaluation window is scored, with the body and face boxes
    moved into it; whatever lies outside changes nothing."""
    import numpy as np

    from dancenow.evaluation.evaluate import score_frame
    from dancenow.pose.layout import NUM_KEYPOINTS

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    real = np.repeat(np.repeat(real[::4, ::4], 4, 0), 4, 1)  # blocks: SSIM is meaningful
    generated = real.copy()
    generated[20:30, 30:40] = 255 - generated[20:30, 30:40]  # a wrong patch inside
    inside = (8, 0, 64, 56)  # columns < 8 and rows >= 56 lie beyond the video
    kp = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    kp[:25] = (36, 28, 1)
    kp[1], kp[8] = (30, 10, 1), (42, 50, 1)
    face = (28, 16, 44, 32)
    scores = score_frame(generated, real, kp, face, perceptual=False, inside=inside)
    scribbled = generated.copy()
    scribbled[:, :8] = rng.integers(0, 256, (64, 8, 3))
    scribbled[56:] = 0
    assert score_frame(scribbled, real, kp, face, perceptual=False, inside=inside) == scores
    assert score_frame(scribbled, real, kp, face, perceptual=False) != scores
    # the same as scoring the cut frames with the boxes moved by hand
    moved = kp.copy()
    moved[:, :2] -= (8, 0)
    by_hand = score_frame(generated[0:56, 8:64], real[0:56, 8:64], moved, (20, 16, 36, 32), perceptual=False)
    assert by_hand == scores


def test_the_model_is_scored_on_transfer_frames_in_the_evaluation_window(tiny_dataset, tiny_run, tmp_path):
    """Evaluation makes the model's held-out frames as transfer does (each in its own window,
    laid over the full-resolution plate) and cuts them to the fixed evaluation window: a run that
    draws alpha 0 everywhere gives exactly the plate there."""
    import numpy as np
    from runs import rigged_run

    from dancenow.data.crop import crop_frame, valid_region
    from dancenow.data.dataset import load_dataset_info
    from dancenow.evaluation.evaluate import EvalGeometry
    from dancenow.inference.model import load_model

    info = load_dataset_info(tiny_dataset)
    start, stop = info.split_range("val")
    geometry = EvalGeometry.of(info, start, stop)
    ew, eh = info.eval_size
    valid = valid_region(info.eval_crop, info.source_size, info.eval_size)
    x0, y0, x1, y1 = geometry.inside
    assert valid[y0:y1, x0:x1].all() and valid.sum() == (x1 - x0) * (y1 - y0)
    model = load_model(rigged_run(tiny_run, tmp_path / "clear", alpha=0, rgb=0.5))
    frames = list(geometry.model_frames(model, torch.device("cpu")))
    assert len(frames) == stop - start
    plate = crop_frame(info.background(), info.eval_crop, info.eval_size, border="black")
    for frame in frames:
        assert frame.shape == (eh, ew, 3) and frame.dtype == np.uint8
        np.testing.assert_array_equal(frame, plate)
    # alpha 1: the flat foreground (0.5 -> 191) wherever a frame's window covers the video
    model = load_model(rigged_run(tiny_run, tmp_path / "solid", alpha=1, rgb=0.5))
    frame = next(iter(geometry.model_frames(model, torch.device("cpu"))))
    assert np.abs(frame[y0:y1, x0:x1].astype(int) - 191).min() == 0
    assert not np.array_equal(frame, plate)


def test_other_splits_read_their_frames_from_the_target_video(tiny_dataset, tiny_run, tmp_path):
    """The held-out frames are stored in the evaluation window; other splits are cropped from the
    video as it decodes, the same pixels; without the video (or with a baseline) they are refused."""
    import shutil

    import numpy as np
    import pytest

    from dancenow.data.dataset import load_dataset_info
    from dancenow.errors import InputError
    from dancenow.evaluation.evaluate import _EvalFrames, evaluate

    info = load_dataset_info(tiny_dataset)
    v0, v1 = info.split_range("val")
    decoded = np.stack(list(_EvalFrames(info, 0, v1).frames(range(v0, v1))))
    assert np.array_equal(decoded, np.load(tiny_dataset / "eval_frames.npy"))

    summary = evaluate(
        tiny_run, tiny_dataset, split="train", redetect=False, perceptual=False, progress=False
    )
    assert summary["frames"] == v0 and 0 < summary["model"]["body_ssim"] <= 1
    with pytest.raises(InputError, match="held-out frames only"):
        evaluate(tiny_run, tiny_dataset, split="all", baseline="nearest-pose", progress=False)

    moved = tmp_path / "ds"
    shutil.copytree(tiny_dataset, moved)
    meta = json.loads((moved / "dataset.json").read_text())
    meta["source_video"] = str(tmp_path / "gone.mp4")
    (moved / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="reads the rest from the target video"):
        evaluate(tiny_run, moved, split="train", redetect=False, perceptual=False, progress=False)
