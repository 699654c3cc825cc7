"""The clean background plate of a prepared dataset beside the plain per-pixel median.

    python benchmarks/plate_picture.py DATASET OUT.png

Writes one picture: a frame of the video | the plain median of 25 frames spread over the video
(what ``dancenow prepare`` stored before the plate) | the dataset's ``background.png`` | its
``background_uncovered.png`` (white: inpainted). Also prints the mean absolute difference
between the two estimates inside and outside the pixels the person ever covers in those frames.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

SAMPLES = 25  # as the plain median did


def plain_median(video: Path, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The plain per-pixel median of the old ``dancenow prepare`` (its sampling), and the middle frame."""
    from dancenow.video import iter_frames

    every = max(1, num_frames // SAMPLES)
    samples, middle = [], None
    for i, frame in enumerate(iter_frames(video)):
        if i % every == 0 and len(samples) < SAMPLES:
            samples.append(frame.image)
        if i == num_frames // 2:
            middle = frame.image
    return np.median(np.stack(samples), axis=0).astype(np.uint8), middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    meta = json.loads((args.dataset / "dataset.json").read_text())
    median, middle = plain_median(Path(meta["source_video"]), meta["num_frames"])
    plate = cv2.cvtColor(cv2.imread(str(args.dataset / "background.png")), cv2.COLOR_BGR2RGB)
    uncovered = cv2.imread(str(args.dataset / "background_uncovered.png"), cv2.IMREAD_UNCHANGED)
    if plate.shape != median.shape:  # videos over 1920 px store a smaller plate
        median = cv2.resize(median, plate.shape[1::-1], interpolation=cv2.INTER_AREA)
        middle = cv2.resize(middle, plate.shape[1::-1], interpolation=cv2.INTER_AREA)
    diff = np.abs(plate.astype(np.int16) - median.astype(np.int16)).mean(axis=-1)
    print(f"{args.dataset}: inpainted {100 * (uncovered > 0).mean():.1f} % of the plate")
    print(f"mean |plate - plain median|: {diff.mean():.1f} (top 1 %: {np.percentile(diff, 99):.1f})")
    gap = np.full((plate.shape[0], 4, 3), 255, np.uint8)
    mask = np.repeat(uncovered[..., None], 3, -1)
    row = np.concatenate([middle, gap, median, gap, plate, gap, mask], axis=1)
    cv2.imwrite(str(args.out), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
