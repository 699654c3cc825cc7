"""``dancenow demo``: the whole pipeline on performers the project generates — no footage needed.

1. Generate a target dancer clip (20 s) and a source dancer clip (a different performer, size,
   position and distance from the camera), each with its exact keypoints.
2. Detect their poses with the real detector (MediaPipe), and score it against the exact keypoints.
3. Prepare the target dataset, train the ``cpu`` preset for the time budget.
4. Transfer the source's dance onto the target (and a side-by-side view).
5. Evaluate on the target's held-out last 20 % (SSIM, PSNR, pose distance) next to the
   nearest-pose baseline.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from dancenow.evaluation.keypoints import body_height, shared_joint_distances
from dancenow.pose.layout import BODY, PARTS
from dancenow.pose.posefile import PoseSequence, save_poses
from dancenow.utils.atomic import write_json


def detector_accuracy(detected: np.ndarray, truth: np.ndarray) -> dict:
    """Detection rates per part and the median body error (fraction of the true body height)."""
    rates = {f"{k}_found": float((detected[:, p, 2] > 0).any(axis=1).mean()) for k, p in PARTS.items()}
    errors = [
        shared_joint_distances(d, t, BODY) / body_height(t) for d, t in zip(detected, truth, strict=True)
    ]
    errors = [e for e in errors if len(e)]
    rates["body_median_error_over_height"] = (
        float(np.median(np.concatenate(errors))) if errors else float("nan")
    )
    return rates


def run_demo(
    output: Path,
    *,
    minutes: float = 5.0,
    target_seconds: float = 20.0,
    source_seconds: float = 8.0,
    fps: float = 15.0,
    size: int = 128,
    preset: str = "cpu",
    workers: int = 1,
    max_steps: int | None = None,
) -> dict:
    """Run the demo into ``output``; returns the summary (also written to ``summary.json``)."""
    from dancenow.data.prepare import prepare_dataset
    from dancenow.evaluation.evaluate import evaluate
    from dancenow.inference.transfer import transfer
    from dancenow.training.run import train_run

    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    timings = {}

    def step(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    print(f"[1/6] generating dancers: target {target_seconds:.0f} s, source {source_seconds:.0f} s")
    target, source = output / "target.mp4", output / "source.mp4"
    truths = _make_dancers(target, source, target_seconds, source_seconds, fps)
    step("generate", t0)

    t0 = time.perf_counter()
    print("[2/6] detecting poses (MediaPipe Holistic)")
    detector = _detect(output, {"target": target, "source": source}, truths, fps, workers)
    step("pose", t0)

    t0 = time.perf_counter()
    width = max(32, round(size * 0.75 / 32) * 32)  # portrait, as the default training size
    print(f"[3/6] preparing the target dataset at {width}x{size} (windows following the dancer)")
    dataset = prepare_dataset(
        target, output / "dataset", poses=output / "target_poses.npz", size=(width, size)
    )
    step("prepare", t0)

    t0 = time.perf_counter()
    print(f"[4/6] training the '{preset}' preset for {minutes:g} min")
    run = output / "run"
    if (run / "checkpoint").exists():
        import shutil

        shutil.rmtree(run)
    train_run(
        dataset, run, preset=preset, minutes=minutes if max_steps is None else None, max_steps=max_steps
    )
    step("train", t0)

    t0 = time.perf_counter()
    print("[5/6] transferring the source's dance onto the target")
    result = transfer(
        run,
        source,
        output / "transfer.mp4",
        source_poses=output / "source_poses.npz",
        side_by_side_path=output / "side_by_side.mp4",
    )
    step("transfer", t0)

    t0 = time.perf_counter()
    print("[6/6] evaluating on the target's held-out frames")
    evaluation = evaluate(run, dataset, baseline="nearest-pose", out_dir=output / "evaluation")
    step("evaluate", t0)

    summary = {
        "seconds": round(time.perf_counter() - start, 1),
        "timings": timings,
        "detector": detector,
        "transfer": {
            "frames": result.frames,
            "frames_per_s": result.frames / max(result.seconds_generating, 1e-9),
        },
        "held_out": {
            m: {k: v for k, v in evaluation[m].items() if isinstance(v, float)}
            for m in ("model", "nearest-pose")
        },
    }
    write_json(output / "summary.json", summary)
    return summary


_SIZES = {"target": (512, 512), "source": (640, 480)}


def _make_dancers(
    target: Path, source: Path, target_seconds: float, source_seconds: float, fps: float
) -> dict:
    """Write the two clips; their exact keypoints by name."""
    from dancenow.synthetic.performer import SOURCE, TARGET
    from dancenow.synthetic.video import make_clip

    target_truth = make_clip(
        target, seconds=target_seconds, fps=fps, size=_SIZES["target"], appearance=TARGET, seed=1
    )
    # the source: another performer, framed wider (smaller in frame), in a landscape video
    source_truth = make_clip(
        source,
        seconds=source_seconds,
        fps=fps,
        size=_SIZES["source"],
        appearance=SOURCE,
        seed=2,
        style="energetic",
    )
    return {"target": target_truth, "source": source_truth}


def _detect(output: Path, videos: dict[str, Path], truths: dict, fps: float, workers: int) -> dict:
    """Detect each video's poses into ``output/NAME_poses.npz`` (and the exact ones into
    ``NAME_true_poses.npz``); the detector's accuracy per video."""
    from dancenow.pose.extract import detect_video

    accuracy = {}
    for name, video in videos.items():
        poses = detect_video(video, workers=workers)
        save_poses(output / f"{name}_poses.npz", poses)
        width, height = _SIZES[name]
        exact = PoseSequence(truths[name], fps=fps, width=width, height=height, detector="synthetic-exact")
        save_poses(output / f"{name}_true_poses.npz", exact)
        accuracy[name] = detector_accuracy(poses.keypoints, truths[name])
    return accuracy
