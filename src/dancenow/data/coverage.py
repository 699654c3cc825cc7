"""Can this target teach a full body? Warnings for targets that will train, but badly.

The model learns only what the target's frames show. A clip in which the knees and ankles are
never found (a half-body framing) trains a generator that has never drawn legs, so any dance
transferred onto it loses them; a crop window far past the frame's edges (the person too close
to the camera or too big in frame) trains on frames that are largely filler. Neither is an
error (``prepare`` still works), so each is a warning that names what is missing; ``prepare``
prints them and the web page shows them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dancenow.pose.layout import BODY, B

LEG_POINTS = {
    "knees": (B["right_knee"], B["left_knee"]),
    "ankles": (B["right_ankle"], B["left_ankle"]),
}
MIN_LEG_FRACTION = 0.5  # of the frames with a person: legs seen less often are not learnt
MAX_OUTSIDE_FRACTION = 0.25  # of the crop window's area outside the video frame


def target_warnings(
    keypoints: np.ndarray, frame_size: tuple[int, int], window, *, full_frame: bool = False
) -> list[str]:
    """What a full-body model will miss with this target (empty when nothing).

    Args:
        keypoints: ``(T, 137, 3)`` in source pixels (confidence 0 = missing).
        frame_size: source ``(W, H)``.
        window: the crop ``(x0, y0, x1, y1)`` in source pixels, or ``(T, 4)``: one per frame
            (the mean share outside the frame counts).
        full_frame: the window is the letterboxed whole frame (its filler is by design).
    """
    found = np.asarray(keypoints)[..., 2] > 0
    person = found[:, BODY].any(axis=1)
    warnings = []
    if person.any():
        seen = {name: found[person][:, list(idx)].any(axis=1).mean() for name, idx in LEG_POINTS.items()}
        missing = [name for name, fraction in seen.items() if fraction < MIN_LEG_FRACTION]
        if missing:
            shown = ", ".join(f"{name} in {100 * seen[name]:.0f}%" for name in missing)
            warnings.append(
                f"not a full body: the {' and '.join(missing)} are rarely or never found ({shown} of the "
                "frames with a person), so the model cannot learn to draw legs; film the whole body, "
                "head to feet"
            )
    if not full_frame:
        width, height = frame_size
        win = np.asarray(window, np.float64).reshape(-1, 4)
        x0, y0, x1, y1 = win.T
        inside = np.clip(np.minimum(x1, width) - np.maximum(x0, 0.0), 0, None) * np.clip(
            np.minimum(y1, height) - np.maximum(y0, 0.0), 0, None
        )
        outside = float(np.mean(1.0 - inside / ((x1 - x0) * (y1 - y0))))
        if outside > MAX_OUTSIDE_FRACTION:
            warnings.append(
                f"the crop around the person extends far past the {width}x{height} frame: "
                f"{100 * outside:.0f}% of the average training frame is outside the video (the person is "
                "too close to the camera or cut off by the frame's edge)"
            )
    return warnings


def dataset_warnings(dataset: str | Path) -> list[str]:
    """:func:`target_warnings` of a prepared dataset folder (its poses and crop)."""
    from dancenow.data.dataset import load_dataset_info
    from dancenow.pose.posefile import load_poses

    info = load_dataset_info(dataset)
    poses = load_poses(Path(dataset) / "poses.npz")
    return target_warnings(poses.keypoints, info.source_size, info.windows(), full_frame=info.full_frame)
