"""Pose-balanced sampling: frames whose poses are rare in the training video are drawn more often.

A dance repeats its common poses (arms down, standing) many times and its striking ones (arms
raised, stretched out) a few. Drawn uniformly, the rare poses get a few gradient steps in a short
CPU budget, and are the ones a model loses. A frame's rarity is the distance, in normalized pose
(:func:`~dancenow.pose.nearest.normalized_body`), to its ``k``-th nearest frame outside its own
moment (frames within ±0.5 s are near copies of it and say nothing about how often the pose
recurs). Its weight is that distance over the median, to the power ``strength``, clipped, and
scaled to mean 1.
"""

from __future__ import annotations

import numpy as np

from dancenow.pose.nearest import PoseIndex

NEIGHBOURS = 8
"""The ``k`` of the ``k``-th nearest frame that measures a pose's rarity."""
MAX_RATIO = 4.0
"""Weights are clipped to ``[1/MAX_RATIO, MAX_RATIO]`` × the median frame's weight."""
_BLOCK = 256
"""Query frames per block (memory: a block × all frames of distances)."""


def rarity_weights(keypoints: np.ndarray, *, exclude: int, strength: float = 1.0) -> np.ndarray:
    """``(N,)`` float64 sampling weights, mean 1, for ``(N, 137, 3)`` keypoints (any pixels).

    ``exclude``: frames within this many of a frame are not its neighbours; ``strength`` 0 gives
    uniform weights. Frames without a body get the median weight.
    """
    n = len(keypoints)
    if n == 0:
        return np.zeros(0)
    if strength == 0 or n <= 2 * exclude + NEIGHBOURS + 1:
        return np.ones(n)
    index = PoseIndex.from_keypoints(keypoints)
    frames = np.arange(n)
    kth = np.full(n, np.nan)
    for s in range(0, n, _BLOCK):
        q = frames[s : s + _BLOCK]
        d = index.distances(index.bodies[q])
        d[np.abs(q[:, None] - frames[None]) <= exclude] = np.inf
        kth[q] = np.partition(d, NEIGHBOURS - 1, axis=1)[:, NEIGHBOURS - 1]
    has_body = index.bodies[:, :, 2].any(1) & np.isfinite(kth)
    if not has_body.any():
        return np.ones(n)
    median = float(np.median(kth[has_body]))
    ratio = np.where(has_body, kth / max(median, 1e-9), 1.0)
    w = np.clip(ratio, 1 / MAX_RATIO, MAX_RATIO) ** strength
    return w / w.mean()
