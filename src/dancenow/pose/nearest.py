"""Retrieval by pose: the training frame whose body pose is nearest to a query pose.

Poses are compared as normalized bodies (centred on the mid-hip, scaled by the torso), so
where and how big the person is does not matter. The nearest-pose baseline of evaluation uses
it, and prepare uses it to store that baseline's frames.
"""

from __future__ import annotations

import numpy as np

from dancenow.pose.layout import BODY, B

__all__ = ["nearest_pose_indices", "normalized_body"]


def normalized_body(keypoints: np.ndarray) -> np.ndarray:
    """``(T, 137, 3)`` -> ``(T, 25, 3)`` body centred on the mid-hip (or neck) and scaled by the
    neck-to-mid-hip length, so poses compare regardless of where and how big the person is."""
    body = keypoints[:, BODY].astype(np.float64).copy()
    out = np.zeros_like(body)
    for t, b in enumerate(body):
        ok = b[:, 2] > 0
        if not ok.any():
            continue
        root = b[B["mid_hip"], :2] if ok[B["mid_hip"]] else b[ok, :2].mean(0)
        if ok[B["neck"]] and ok[B["mid_hip"]]:
            size = np.linalg.norm(b[B["neck"], :2] - b[B["mid_hip"], :2])
        else:
            size = np.ptp(b[ok, 1]) / 3 if ok.sum() > 1 else 1.0
        size = max(size, 1e-3)
        out[t, ok, :2] = (b[ok, :2] - root) / size
        out[t, ok, 2] = 1.0
    return out


def nearest_pose_indices(train: np.ndarray, query: np.ndarray) -> np.ndarray:
    """For each query pose, the index of the training pose with the smallest mean joint distance
    (over joints present in both; normalized bodies ``(N, 25, 3)`` and ``(M, 25, 3)``)."""
    out = np.zeros(len(query), np.int64)
    t_ok = train[:, :, 2] > 0
    for i, q in enumerate(query):
        q_ok = q[:, 2] > 0
        both = t_ok & q_ok[None]
        n = both.sum(1)
        d = np.linalg.norm(train[:, :, :2] - q[None, :, :2], axis=2)
        mean = np.where(n > 0, (d * both).sum(1) / np.maximum(n, 1), np.inf)
        # prefer candidates sharing many joints: missing joints count as a fixed penalty
        mean = mean + 0.5 * (q_ok.sum() - n) / max(q_ok.sum(), 1)
        out[i] = int(np.argmin(mean))
    return out
