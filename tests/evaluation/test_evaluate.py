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
    """A copy of dataset ``src`` whose held-out split repeats its own frames ``held_out`` times
    over (frames, masks, windows, keypoints, face boxes, source poses and evaluation crops alike);
    the training split is unchanged."""
    import dataclasses
    import shutil

    import numpy as np

    from dancenow.pose.posefile import load_poses, save_poses

    info = json.loads((src / "dataset.json").read_text())
    (t0, t1), (v0, v1) = info["splits"]["train"], info["splits"]["val"]
    rows = np.arange(held_out) % (v1 - v0)
    order = np.concatenate([np.arange(t0, t1), v0 + rows])
    shutil.copytree(src, dst)
    for name in ("frames.npy", "masks.npy", "windows.npy", "keypoints.npy", "faces.npy"):
        np.save(dst / name, np.load(src / name)[order])
    for name in ("eval_frames.npy", "baseline_frames.npy"):
        np.save(dst / name, np.load(src / name)[rows])
    poses = load_poses(src / "poses.npz")
    save_poses(dst / "poses.npz", dataclasses.replace(poses, keypoints=poses.keypoints[order], times=None))
    info |= {"num_frames": len(order), "splits": {"train": [t0, t1], "val": [t1, len(order)]}}
    (dst / "dataset.json").write_text(json.dumps(info))
    return dst


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
