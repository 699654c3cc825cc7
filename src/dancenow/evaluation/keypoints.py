"""Keypoint accuracy: PCK against ground truth and distances between detectors."""

from __future__ import annotations

import numpy as np

from dancenow.pose.layout import B


def torso_size(points: np.ndarray, visible: np.ndarray) -> float:
    """Mean of the two torso diagonals (shoulder to opposite hip) of a BODY_25-indexed pose.

    ``points`` (25, 2) and ``visible`` (25,) bool. The diagonals are robust to a person facing
    sideways, where the shoulder width collapses. NaN when no diagonal is visible.
    """
    diagonals = [
        np.linalg.norm(points[a] - points[b])
        for a, b in ((B["left_shoulder"], B["right_hip"]), (B["right_shoulder"], B["left_hip"]))
        if visible[a] and visible[b]
    ]
    return float(np.mean(diagonals)) if diagonals else float("nan")


def pck(
    predicted: np.ndarray, truth: np.ndarray, truth_visible: np.ndarray, threshold: float
) -> tuple[int, int]:
    """Count correct keypoints: (hits, total) over joints visible in the ground truth.

    ``predicted`` (J, 3) with confidence 0 for missing (a miss), ``truth`` (J, 2),
    ``truth_visible`` (J,) bool; a joint is correct when within ``threshold`` pixels.
    """
    found = predicted[:, 2] > 0
    dist = np.linalg.norm(predicted[:, :2] - truth, axis=1)
    hits = truth_visible & found & (dist <= threshold)
    return int(hits.sum()), int(truth_visible.sum())


def body_height(keypoints: np.ndarray) -> float:
    """Height of a (137, 3) pose: from the highest head point to the lowest ankle/heel/toe (pixels)."""
    body = keypoints[:25]
    head = [B[n] for n in ("nose", "neck", "right_eye", "left_eye", "right_ear", "left_ear")]
    feet = [
        B[n]
        for n in ("right_ankle", "left_ankle", "right_heel", "left_heel", "right_big_toe", "left_big_toe")
    ]
    top = body[head][body[head, 2] > 0, 1]
    bottom = body[feet][body[feet, 2] > 0, 1]
    if len(top) == 0 or len(bottom) == 0:
        return float("nan")
    return float(bottom.max() - top.min())


def shared_joint_distances(a: np.ndarray, b: np.ndarray, part: slice = slice(0, 25)) -> np.ndarray:
    """Distances (pixels) between two (137, 3) poses over the joints of ``part`` present in both."""
    pa, pb = a[part], b[part]
    both = (pa[:, 2] > 0) & (pb[:, 2] > 0)
    return np.linalg.norm(pa[both, :2] - pb[both, :2], axis=1)
