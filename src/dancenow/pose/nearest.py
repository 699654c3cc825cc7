"""Retrieval by pose: the training frames whose body poses are nearest to a query pose.

Poses are compared as normalized bodies (centred on the mid-hip, scaled by the torso), so
where and how big the person is does not matter. The distance between two poses is the mean
distance over the joints present in both, plus ``MISSING_PENALTY`` times the share of the
query's joints the candidate lacks (a candidate sharing few joints is a poor match however close
those few are).

:class:`PoseIndex` holds the normalized bodies of a set of frames (built once per dataset) and
answers queries in vectorized blocks: the nearest-pose baseline of evaluation, prepare's stored
baseline frames and the appearance conditioning (:mod:`dancenow.data.appearance`) all use it.
"""

from __future__ import annotations

import numpy as np

from dancenow.pose.layout import BODY, B

__all__ = ["MISSING_PENALTY", "PoseIndex", "nearest_pose_indices", "normalized_body"]

MISSING_PENALTY = 0.5
"""Added distance (torso lengths) for each query joint a candidate lacks, times their share."""
_BLOCK = 1 << 20
"""Largest (queries x candidates x joints) block searched at once: a few MB per array."""
_QUERIES = 32
"""At most this many queries per block, so memory does not grow with the number of queries."""


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


class PoseIndex:
    """The normalized bodies of ``N`` candidate frames, searched by :meth:`query`.

    Args:
        bodies: ``(N, 25, 3)`` normalized bodies (:func:`normalized_body`); column 2 is 1 where
            the joint is present, 0 where missing.
        frames: ``(N,)`` int64, the frame index of each candidate (default ``0..N-1``); the
            exclusion window of :meth:`query` is measured in these.
    """

    def __init__(self, bodies: np.ndarray, frames: np.ndarray | None = None):
        bodies = np.asarray(bodies, np.float64)
        if bodies.ndim != 3 or bodies.shape[1:] != (25, 3):
            raise ValueError(f"bodies must be (N, 25, 3), got {bodies.shape}")
        self.bodies = bodies
        self.frames = (
            np.arange(len(bodies), dtype=np.int64) if frames is None else np.asarray(frames, np.int64)
        )
        if self.frames.shape != (len(bodies),):
            raise ValueError(f"frames must be ({len(bodies)},), got {self.frames.shape}")
        self._xy = bodies[:, :, :2]
        self._ok = bodies[:, :, 2] > 0

    @classmethod
    def from_keypoints(cls, keypoints: np.ndarray, frames: np.ndarray | None = None) -> PoseIndex:
        """The index of ``(N, 137, 3)`` keypoints (any pixels: the bodies are normalized)."""
        return cls(normalized_body(keypoints), frames)

    def __len__(self) -> int:
        return len(self.bodies)

    def distances(self, query: np.ndarray) -> np.ndarray:
        """``(M, N)`` distances from ``(M, 25, 3)`` normalized query bodies to every candidate
        (inf where they share no joint)."""
        query = np.asarray(query, np.float64)
        q_xy, q_ok = query[:, :, :2], query[:, :, 2] > 0
        out = np.empty((len(query), len(self)), np.float64)
        step = max(1, min(_QUERIES, _BLOCK // max(1, len(self) * 25)))
        for s in range(0, len(query), step):
            qx, qo = q_xy[s : s + step], q_ok[s : s + step]
            both = qo[:, None, :] & self._ok[None]  # (m, N, 25)
            d = np.linalg.norm(qx[:, None] - self._xy[None], axis=3)
            n = both.sum(2)
            mean = np.where(n > 0, (d * both).sum(2) / np.maximum(n, 1), np.inf)
            wanted = qo.sum(1, keepdims=True)
            out[s : s + step] = mean + MISSING_PENALTY * (wanted - n) / np.maximum(wanted, 1)
        return out

    def query(
        self,
        query: np.ndarray,
        k: int = 1,
        *,
        query_frames: np.ndarray | None = None,
        exclude: int = -1,
    ) -> np.ndarray:
        """The ``k`` nearest candidates of each query, nearest first: ``(M, k)`` int64 positions
        in the index (``-1`` where fewer than ``k`` candidates share a joint with the query).

        Args:
            query: ``(M, 25, 3)`` normalized bodies.
            k: neighbours per query.
            query_frames: ``(M,)`` frame index of each query (needed with ``exclude``).
            exclude: leave out candidates whose frame is within ``exclude`` frames of the query's
                own (``-1``: none). Training uses it so that a frame never retrieves itself or
                its near-identical neighbours: the network would learn to copy the answer.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        d = self.distances(query)
        if exclude >= 0:
            if query_frames is None or len(query_frames) != len(query):
                raise ValueError("exclude needs the query frames")
            near = np.abs(np.asarray(query_frames, np.int64)[:, None] - self.frames[None]) <= exclude
            d[near] = np.inf
        kk = min(k, len(self))
        order = np.argsort(d, axis=1, kind="stable")[:, :kk]
        found = np.take_along_axis(d, order, axis=1)
        out = np.full((len(query), k), -1, np.int64)
        out[:, :kk] = np.where(np.isfinite(found), order, -1)
        return out


def nearest_pose_indices(train: np.ndarray, query: np.ndarray) -> np.ndarray:
    """For each query pose, the index of the nearest training pose (normalized bodies
    ``(N, 25, 3)`` and ``(M, 25, 3)``; 0 when none shares a joint with the query)."""
    return np.maximum(PoseIndex(train).query(query, 1)[:, 0], 0)
