"""``dancenow demo``: the pipeline on performers the project generates, no footage needed.

So far the demo covers the pose stage: it renders a procedural dancer with known keypoints,
runs the real detector on the video, writes a preview, and measures the detector against
the exact keypoints.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from dancenow.evaluation.keypoints import body_height
from dancenow.pose.extract import detect_video
from dancenow.pose.layout import BODY, FACE, LEFT_HAND, RIGHT_HAND
from dancenow.pose.posefile import PoseSequence, save_poses
from dancenow.pose.preview import write_preview
from dancenow.synthetic.performer import TARGET
from dancenow.synthetic.video import make_clip


def detector_accuracy(detected: np.ndarray, truth: np.ndarray) -> dict:
    """Detection rates per part and the median body error (fraction of the true body height)."""
    parts = {"body": BODY, "face": FACE, "left_hand": LEFT_HAND, "right_hand": RIGHT_HAND}
    rates = {f"{k}_found": float((detected[:, p, 2] > 0).any(axis=1).mean()) for k, p in parts.items()}
    errors = []
    for d, t in zip(detected, truth, strict=True):
        both = (d[BODY, 2] > 0) & (t[BODY, 2] > 0)
        if both.any():
            errors.append(np.linalg.norm(d[BODY][both, :2] - t[BODY][both, :2], axis=1) / body_height(t))
    rates["body_median_error_over_height"] = (
        float(np.median(np.concatenate(errors))) if errors else float("nan")
    )
    return rates


def run_demo(
    output: Path, *, seconds: float = 10.0, fps: float = 30.0, size=(512, 512), workers: int = 1
) -> dict:
    """Generate a target clip, detect its poses, write a preview and score the detector; returns a summary."""
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    target = output / "target.mp4"
    print(f"[1/3] generating a {seconds:.0f} s dancer clip -> {target}")
    truth = make_clip(target, seconds=seconds, fps=fps, size=size, appearance=TARGET, seed=1)
    save_poses(
        output / "target_true_poses.npz",
        PoseSequence(truth, fps=fps, width=size[0], height=size[1], detector="synthetic-exact"),
    )
    print("[2/3] detecting poses (MediaPipe Holistic)")
    poses = detect_video(target, workers=workers)
    save_poses(output / "target_poses.npz", poses)
    print("[3/3] writing the preview")
    write_preview(target, poses, output / "target_preview.mp4")
    summary = {
        "frames": len(poses),
        **detector_accuracy(poses.keypoints, truth),
        "seconds": time.perf_counter() - start,
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
