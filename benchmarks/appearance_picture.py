"""What appearance conditioning gives the generator, for a few frames of a prepared dataset.

    python benchmarks/appearance_picture.py DATASET OUT.png [--split val] [--frames 6] [--scale 2]

One row per frame, evenly spaced over the split: the wanted pose (stick figure) | the training
frame retrieved by pose (``nearest``, unwarped, valid on its person mask) | that frame warped
part by part into the wanted pose (``warped``) | the warped frame with the wanted stick figure
drawn over it (limbs must land on the lines) | the real frame. Training frames are retrieved as
training does: never within 0.5 s of the frame itself. Also prints, per frame, the retrieved
frame and the mean absolute difference to the real frame (0-255) on the pixels the warp covers,
for the unwarped and the warped frame.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from dancenow.data.dataset import FrameDataset, render_label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--split", default="val", choices=("train", "val", "all"))
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--scale", type=int, default=2, help="enlarge every panel this many times")
    args = parser.parse_args()
    data = FrameDataset(args.dataset, args.split, appearance="warped")
    bank = data.appearance_bank()
    t0 = data.info.split_range("train")[0]
    rows = []
    for i in np.linspace(0, len(data) - 1, min(args.frames, len(data))).round().astype(int):
        t = data.start + int(i)
        j = int(data.neighbours[i, 0])
        wanted = data.keypoints[t]
        real = np.asarray(data.frames[t])
        near_rgb, near_valid = bank.condition(j - t0 if j >= 0 else -1, wanted, "nearest")
        warp_rgb, warp_valid = bank.condition(j - t0 if j >= 0 else -1, wanted, "warped")
        pose = render_label(wanted, data.info.height, data.info.width)
        over = warp_rgb.copy()
        lines = pose.max(axis=2) > 0
        over[lines] = pose[lines]
        covered = warp_valid > 0.5
        if covered.any():
            near_err = np.abs(near_rgb.astype(float) - real)[covered].mean()
            warp_err = np.abs(warp_rgb.astype(float) - real)[covered].mean()
            print(
                f"frame {t}: retrieved {j}; |nearest - real| {near_err:.1f}, |warped - real| {warp_err:.1f} "
                f"on the {covered.mean():.0%} of pixels the warp covers"
            )
        panels = [pose, near_rgb, warp_rgb, over, real]
        rows.append(np.concatenate([_gap(p) for p in panels], axis=1))
    sheet = np.concatenate(rows, axis=0)
    if args.scale > 1:
        size = (sheet.shape[1] * args.scale, sheet.shape[0] * args.scale)
        sheet = cv2.resize(sheet, size, interpolation=cv2.INTER_NEAREST)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}: pose | retrieved | warped | warped + pose | real")


def _gap(image: np.ndarray) -> np.ndarray:
    """``image`` with a white 2-pixel border on its right and bottom."""
    return cv2.copyMakeBorder(image, 0, 2, 0, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))


if __name__ == "__main__":
    main()
