"""Where each limb lies in a frame: a capsule around its segment, from the keypoints alone.

A limb (:data:`~dancenow.pose.layout.LIMB_SEGMENTS`: upper arm, forearm, hand, thigh, shin, per
side) is the segment between two keypoints; its **core** is the capsule of radius
``radius × frame height`` around that segment (a thick line with round ends). The radius is
thinner than the limb (:data:`CORE_RADIUS`, about 2 px of a 256-px frame, where a forearm is
6–10 px wide), so the core lies on the limb wherever the keypoints are right, and each core
pixel is one the person covers.

Training asks the alpha map to be 1 on the cores (``training.loss.alpha_loss``), and evaluation measures
the share of each core the person mask and the generated alpha cover
(:class:`~dancenow.evaluation.limbs.LimbCoverage`). A limb whose ends are not both present has
an empty core.
"""

from __future__ import annotations

import cv2
import numpy as np

from dancenow.pose.layout import LIMB_SEGMENTS

CORE_RADIUS = 0.008
"""Radius of a limb's core capsule, as a fraction of the frame's height."""


def limb_cores(keypoints: np.ndarray, height: int, width: int, *, radius: float = CORE_RADIUS) -> np.ndarray:
    """``(L, height, width)`` bool: the core capsule of each limb of ``LIMB_SEGMENTS`` (in its
    order) for a ``(137, 3)`` pose in the frame's pixels; all False where an end is missing."""
    out = np.zeros((len(LIMB_SEGMENTS), height, width), np.uint8)
    thickness = 2 * max(1, round(radius * height)) + 1
    for i, (a, b) in enumerate(LIMB_SEGMENTS.values()):
        if keypoints[a, 2] > 0 and keypoints[b, 2] > 0:
            # 8-connected thick lines have round ends (OpenCV draws a disc at each end)
            pa, pb = (tuple(int(round(v)) for v in keypoints[j, :2]) for j in (a, b))
            cv2.line(out[i], pa, pb, 1, thickness, lineType=cv2.LINE_8)
    return out.astype(bool)


def limb_core_map(
    keypoints: np.ndarray, height: int, width: int, *, radius: float = CORE_RADIUS
) -> np.ndarray:
    """``(height, width)`` float32, 1 on the core of any limb of the pose, else 0."""
    return limb_cores(keypoints, height, width, radius=radius).any(0).astype(np.float32)
