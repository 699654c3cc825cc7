"""The pose file (``.npz``): keypoints of one video in the ``openpose137`` layout.

Fields: ``keypoints`` float32 ``(T, 137, 3)`` in original-frame pixels, ``fps`` (float),
``width``/``height`` (ints), ``layout`` = ``"openpose137"``, ``detector`` (str),
``version`` (int), and ``times`` (float64 ``(T,)`` seconds, the frames' timestamps).
Loading never unpickles.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dancenow.errors import InputError
from dancenow.pose.layout import LAYOUT, NUM_KEYPOINTS
from dancenow.utils.atomic import atomic_path

VERSION = 1


@dataclass
class PoseSequence:
    """Keypoints of one video plus the facts needed to interpret them."""

    keypoints: np.ndarray  # (T, 137, 3) float32, x/y in pixels of the original frame
    fps: float  # frames per second (average for variable-frame-rate video)
    width: int  # original frame width (after rotation metadata is applied)
    height: int  # original frame height
    detector: str = "unknown"  # which backend produced the keypoints
    times: np.ndarray | None = field(default=None)  # (T,) seconds; None -> index / fps

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, np.float32)
        if self.keypoints.ndim != 3 or self.keypoints.shape[1:] != (NUM_KEYPOINTS, 3):
            raise ValueError(f"keypoints must be (T, {NUM_KEYPOINTS}, 3), got {self.keypoints.shape}")
        if self.times is None:
            self.times = np.arange(len(self.keypoints), dtype=np.float64) / max(self.fps, 1e-9)
        self.times = np.asarray(self.times, np.float64)
        if self.times.shape != (len(self.keypoints),):
            raise ValueError(f"times must be ({len(self.keypoints)},), got {self.times.shape}")

    def __len__(self) -> int:
        return len(self.keypoints)

    def detected(self, part: slice = slice(0, 25), min_points: int = 1) -> np.ndarray:
        """(T,) bool: frames where at least ``min_points`` keypoints of ``part`` are present."""
        return (self.keypoints[:, part, 2] > 0).sum(axis=1) >= min_points


def pose_file_bytes(num_frames: int) -> int:
    """The most a pose file of ``num_frames`` frames takes (uncompressed keypoints and times)."""
    return num_frames * (NUM_KEYPOINTS * 3 * 4 + 8) + 4096


def save_poses(path: str | Path, poses: PoseSequence) -> None:
    """Write ``poses`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                keypoints=poses.keypoints.astype(np.float32),
                times=poses.times.astype(np.float64),
                fps=np.float64(poses.fps),
                width=np.int64(poses.width),
                height=np.int64(poses.height),
                layout=np.str_(LAYOUT),
                detector=np.str_(poses.detector),
                version=np.int64(VERSION),
            )


def load_poses(path: str | Path) -> PoseSequence:
    """Read a pose file, checking every field; raises :class:`InputError` on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such pose file" if not path.exists() else "is not a file")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(path, f"not a readable pose file ({e.__class__.__name__}: {e})") from None
    missing = {"keypoints", "fps", "width", "height", "layout"} - data.keys()
    if missing:
        raise InputError(path, f"not a dancenow pose file (missing {', '.join(sorted(missing))})")
    if str(data["layout"]) != LAYOUT:
        raise InputError(path, f"unsupported keypoint layout {str(data['layout'])!r} (expected {LAYOUT})")
    kp = data["keypoints"]
    if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 3) or not np.issubdtype(kp.dtype, np.floating):
        raise InputError(path, f"keypoints must be float (T, {NUM_KEYPOINTS}, 3), got {kp.dtype} {kp.shape}")
    if not np.isfinite(kp).all():
        raise InputError(path, "keypoints contain NaN or Inf")
    try:
        return PoseSequence(
            keypoints=kp,
            fps=float(data["fps"]),
            width=int(data["width"]),
            height=int(data["height"]),
            detector=str(data.get("detector", "unknown")),
            times=data.get("times"),
        )
    except (ValueError, TypeError) as e:
        raise InputError(path, f"inconsistent pose file ({e})") from None


def load_poses_of(path: str | Path, video: str | Path, size: tuple[int, int]) -> PoseSequence:
    """The pose file ``path`` given for ``video`` of ``size`` = (width, height): an
    :class:`InputError` naming it unless it is of a video of that size and frame count, with its
    keypoints in (or near) the frame."""
    from dancenow.video import frame_times

    path, video = Path(path), Path(video)
    width, height = size
    poses = load_poses(path)
    if (poses.width, poses.height) != (width, height):
        raise InputError(
            path,
            f"poses are for a {poses.width}x{poses.height} video, but {video.name} is {width}x{height}",
        )
    # A point a frame's width or height beyond the frame is no detection (a crop built around
    # it would be a few pixels of the video); the detector's guesses at a cut-off limb stay closer.
    kp = poses.keypoints
    present = kp[..., 2] > 0
    far = present & (
        (kp[..., 0] < -width) | (kp[..., 0] > 2 * width) | (kp[..., 1] < -height) | (kp[..., 1] > 2 * height)
    )
    if far.any():
        t, k = np.argwhere(far)[0]
        where = f"frame {t}, point {k} at ({kp[t, k, 0]:.3g}, {kp[t, k, 1]:.3g})"
        raise InputError(
            path,
            f"keypoints far outside the {width}x{height} frame ({where}; "
            f"{int(far.any(axis=1).sum())} frames in all): not poses of {video.name}",
        )
    count = len(frame_times(video))
    if len(poses) != count:
        raise InputError(path, f"has {len(poses)} frames, but {video.name} has {count}")
    return poses
