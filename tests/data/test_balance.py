"""Pose-balanced sampling: rare poses are drawn more often."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dancenow.data.balance import MAX_RATIO, rarity_weights
from dancenow.pose.layout import B, empty
from dancenow.training.schedule import EpochSampler


def _poses(n: int, raised: set[int]) -> np.ndarray:
    """``n`` frames of a standing person swaying a little; in the frames ``raised`` both wrists
    are above the head."""
    rng = np.random.default_rng(0)
    kp = empty(n)
    base = {
        "nose": (100, 40), "neck": (100, 70), "right_shoulder": (80, 72), "right_elbow": (76, 110),
        "right_wrist": (74, 145), "left_shoulder": (120, 72), "left_elbow": (124, 110),
        "left_wrist": (126, 145), "mid_hip": (100, 140), "right_hip": (88, 140), "right_knee": (86, 190),
        "right_ankle": (84, 240), "left_hip": (112, 140), "left_knee": (114, 190), "left_ankle": (116, 240),
    }  # fmt: skip
    for t in range(n):
        for name, (x, y) in base.items():
            kp[t, B[name]] = (x + rng.normal(0, 1.5), y + rng.normal(0, 1.5), 1)
        if t in raised:
            kp[t, B["right_elbow"], :2] = (78, 40)
            kp[t, B["right_wrist"], :2] = (82, 5)
            kp[t, B["left_elbow"], :2] = (122, 40)
            kp[t, B["left_wrist"], :2] = (118, 5)
    return kp


def test_rare_poses_weigh_more_and_the_weights_are_bounded():
    raised = set(range(100, 112))  # 12 of 200 frames, one moment of the video
    w = rarity_weights(_poses(200, raised), exclude=3)
    assert w.shape == (200,) and w.mean() == pytest.approx(1.0)
    rare, common = w[sorted(raised)], np.delete(w, sorted(raised))
    assert rare.min() > 2 * np.median(common)
    assert w.max() / w.min() <= MAX_RATIO**2 + 1e-9
    assert np.all(rarity_weights(_poses(200, raised), exclude=3, strength=0) == 1)


def test_the_sampler_draws_rare_poses_more_often_and_is_seeded():
    raised = set(range(100, 112))
    w = rarity_weights(_poses(200, raised), exclude=3)
    sampler = EpochSampler(200, seed=0, weights=w)
    drawn = []
    for epoch in range(20):
        sampler.set_position(epoch, 0)
        drawn += list(sampler)
    assert len(drawn) == 20 * 200
    counts = Counter(drawn)
    share_rare = sum(counts[t] for t in raised) / len(drawn)
    assert share_rare > 2 * len(raised) / 200  # uniform sampling would give 6 %
    # same seed and epoch, same order; resuming mid-epoch continues it
    a, b = EpochSampler(200, seed=0, weights=w), EpochSampler(200, seed=0, weights=w)
    a.set_position(3, 0)
    b.set_position(3, 50)
    assert list(a)[50:] == list(b)
    with pytest.raises(ValueError):
        EpochSampler(200, seed=0, weights=np.ones(199))
