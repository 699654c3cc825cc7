"""A transfer frame at full resolution, cut around the person: what a viewer sees up close.

    python benchmarks/transfer_crop.py OUT.mp4 FRAME PICTURE.png [--margin 0.15] [--frames F ...]
                                       [--rows OTHER.mp4 ...]

Reads frame ``FRAME`` (0-based; more with ``--frames``) of a ``dancenow transfer`` output and
the normalized poses written beside it (``OUT.poses.npz``), and writes the frame's pixels in the
box around the person's keypoints (grown by ``--margin`` of its height on each side), unscaled:
one pixel of the picture is one pixel of the video. Several frames are placed side by side;
``--rows`` adds a row per other transfer of the same source onto the same target (e.g. before and
after a change), cut by the same boxes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from dancenow.data.crop import person_boxes
from dancenow.pose.posefile import load_poses
from dancenow.video import iter_frames


def person_crop(image: np.ndarray, keypoints: np.ndarray, margin: float) -> np.ndarray:
    """``image``'s pixels around the person of ``(137, 3)`` ``keypoints`` (whole frame without one)."""
    box = person_boxes(keypoints[None])[0]
    if not np.isfinite(box).all():
        return image
    h, w = image.shape[:2]
    m = margin * (box[3] - box[1])
    x0, y0 = max(0, int(box[0] - m)), max(0, int(box[1] - m))
    x1, y1 = min(w, int(np.ceil(box[2] + m))), min(h, int(np.ceil(box[3] + m)))
    return image[y0:y1, x0:x1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", type=Path)
    ap.add_argument("frame", type=int)
    ap.add_argument("picture", type=Path)
    ap.add_argument("--frames", type=int, nargs="*", default=[], help="more frames, side by side")
    ap.add_argument("--margin", type=float, default=0.15)
    ap.add_argument("--rows", type=Path, nargs="*", default=[], help="more transfers, one row each")
    args = ap.parse_args()
    poses = load_poses(args.video.with_suffix(".poses.npz"))
    wanted = [args.frame, *args.frames]
    rows = []
    for video in (args.video, *args.rows):
        crops = {}
        for t, frame in enumerate(iter_frames(video)):
            if t in wanted:
                crops[t] = person_crop(frame.image, poses.keypoints[t], args.margin)
            if len(crops) == len(set(wanted)):
                break
        missing = [t for t in wanted if t not in crops]
        if missing:
            raise SystemExit(f"{video}: no frame {missing[0]}")
        height = max(c.shape[0] for c in crops.values())
        row = [np.pad(crops[t], ((0, height - crops[t].shape[0]), (0, 4), (0, 0))) for t in wanted]
        rows.append(np.pad(np.concatenate(row, axis=1), ((0, 4), (0, 0), (0, 0))))
    width = max(r.shape[1] for r in rows)
    picture = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
    cv2.imwrite(str(args.picture), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    print(f"{args.picture}: frames {wanted} of {len(rows)} video(s), full resolution")


if __name__ == "__main__":
    main()
