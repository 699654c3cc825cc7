"""H.264 encoding cost of the x264 presets ``transfer`` could use, on real footage.

    python benchmarks/encode.py [VIDEO] [--frames 60] [--presets medium,fast,veryfast,superfast]

Decodes the first frames of VIDEO (default: ``../shared/data/videos/aerobics_studio.mp4``) once,
then writes them with :class:`dancenow.video.VideoWriter` at CRF 18 with each preset, at the
model's 256x256 and at the video's own size (what ``transfer`` writes when it pastes into the
target's framing). Prints milliseconds per frame, the file size, and each encoding's PSNR against
the first preset's (how far apart the two results are). Nothing is timed in tests.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dancenow.video import VideoWriter, iter_frames

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/videos/aerobics_studio.mp4"


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b, strict=True)])
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--presets", default="medium,fast,veryfast,superfast")
    args = ap.parse_args()
    if not args.video.is_file():
        sys.exit(f"{args.video}: no such video (give one as the first argument)")
    frames = [f.image for f in itertools.islice(iter_frames(args.video), args.frames)]
    h, w = frames[0].shape[:2]
    print(f"{args.video.name}: {len(frames)} frames of {w}x{h}, CRF 18")
    with tempfile.TemporaryDirectory() as tmp:
        for size in ((256, 256), (w, h)):
            images = (
                frames
                if size == (w, h)
                else [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
            )
            first = None
            for preset in args.presets.split(","):
                out = Path(tmp) / f"{preset}_{size[0]}.mp4"
                t0 = time.perf_counter()
                with VideoWriter(out, 30, preset=preset, crf=18) as writer:
                    for image in images:
                        writer.write(image)
                ms = (time.perf_counter() - t0) / len(images) * 1e3
                decoded = [f.image for f in iter_frames(out)]
                first = first or (preset, decoded)
                close = "" if first[0] == preset else f", {psnr(first[1], decoded):.1f} dB from {first[0]}"
                kb = os.path.getsize(out) / 1e3
                print(f"{size[0]}x{size[1]} {preset:10s} {ms:6.1f} ms/frame {kb:8.0f} kB{close}")


if __name__ == "__main__":
    main()
