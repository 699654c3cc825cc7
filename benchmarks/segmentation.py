"""What person segmentation costs the pose stage, in one run on one machine.

    python benchmarks/segmentation.py [--video VIDEO] [--frames N] [--json OUT.json]

(VIDEO defaults to ../shared/data/videos/aerobics_studio.mp4, 1920x1080.)

The same first N frames are decoded once into memory, then timed through, one process, one
after the other (frames/s of the model calls only, decoding excluded, frames shrunk to the
pose stage's 1280 px as it does):
  1. MediaPipe Holistic as ``dancenow pose`` runs it (no segmentation);
  2. the same Holistic with ``enable_segmentation=True`` (the segmentation folded into the
     pose stage);
  3. :class:`~dancenow.pose.mediapipe_backend.PersonSegmenter` alone (BlazePose with
     segmentation, no face or hands): what ``dancenow prepare`` runs on every frame for the
     person masks, whether the poses were detected now or read from a file.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "videos" / "aerobics_studio.mp4"


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def load_frames(video: Path, count: int, max_side: int) -> list[np.ndarray]:
    import cv2

    from dancenow.video import iter_frames

    frames = []
    for frame in iter_frames(video):
        image = frame.image
        h, w = image.shape[:2]
        if max(h, w) > max_side:
            s = max_side / max(h, w)
            image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        frames.append(np.ascontiguousarray(image))
        if len(frames) == count:
            break
    return frames


def time_calls(call, frames: list[np.ndarray]) -> float:
    """Frames/s of ``call`` over ``frames`` (the first 5 calls warm up and are not timed)."""
    for image in frames[:5]:
        call(image)
    start = time.perf_counter()
    for image in frames[5:]:
        call(image)
    return (len(frames) - 5) / (time.perf_counter() - start)


def holistic(segmentation: bool):
    import mediapipe as mp

    from dancenow.pose.mediapipe_backend import _quiet_native_stderr

    with _quiet_native_stderr():
        model = mp.solutions.holistic.Holistic(
            static_image_mode=False,
            model_complexity=1,
            smooth_landmarks=True,
            refine_face_landmarks=True,
            enable_segmentation=segmentation,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )

    def call(image):
        with _quiet_native_stderr():
            return model.process(image)

    return call, model


def main() -> None:
    from dancenow.pose.extract import DEFAULT_MAX_SIDE
    from dancenow.pose.mediapipe_backend import PersonSegmenter

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    frames = load_frames(args.video, args.frames, DEFAULT_MAX_SIDE)
    results = {}
    for name, segmentation in (("holistic", False), ("holistic+segmentation", True)):
        call, model = holistic(segmentation)
        results[name] = time_calls(call, frames)
        model.close()
    with PersonSegmenter() as segment:
        results["segmenter"] = time_calls(segment, frames)

    h, w = frames[0].shape[:2]
    report = {
        "date": date.today().isoformat(),
        "cpu": cpu_model(),
        "video": args.video.name,
        "frames": len(frames),
        "model_input": f"{w}x{h}",
        "frames_per_second": {k: round(v, 2) for k, v in results.items()},
        "segmentation_cost_in_holistic": round(1 - results["holistic+segmentation"] / results["holistic"], 3),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
