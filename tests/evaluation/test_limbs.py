"""Per-limb judgement: the limb cores, their coverage by mask and alpha, and limbs drawn where asked."""

from __future__ import annotations

import numpy as np
import pytest

from dancenow.evaluation.keypoints import GroupFidelity, body_height
from dancenow.evaluation.limbs import LimbCoverage, coverage_table
from dancenow.pose.layout import LIMB_SEGMENTS, B, empty
from dancenow.pose.limbs import CORE_RADIUS, limb_core_map, limb_cores


def _pose(h: int = 256) -> np.ndarray:
    """A person standing with the right arm stretched out sideways (image left)."""
    kp = empty(1)[0]
    at = {
        "nose": (96, 40), "neck": (96, 70), "right_shoulder": (76, 72), "right_elbow": (46, 72),
        "right_wrist": (16, 72), "left_shoulder": (116, 72), "left_elbow": (120, 110),
        "left_wrist": (122, 145), "mid_hip": (96, 140), "right_hip": (84, 140), "right_knee": (82, 190),
        "right_ankle": (80, 240), "left_hip": (108, 140), "left_knee": (110, 190), "left_ankle": (112, 240),
    }  # fmt: skip
    for name, (x, y) in at.items():
        kp[B[name]] = (x, y * h / 256, 1)
    return kp


def test_a_core_lies_along_its_segment_and_is_thinner_than_a_limb():
    kp = _pose()
    cores = limb_cores(kp, 256, 192)
    names = list(LIMB_SEGMENTS)
    forearm = cores[names.index("right_forearm")]
    ys, xs = np.nonzero(forearm)
    assert xs.min() >= 16 - 3 and xs.max() <= 46 + 3  # from elbow to wrist, round ends
    assert set(ys) <= set(range(72 - 3, 72 + 4))  # 2 px on each side at 256 px high
    assert 2 * round(CORE_RADIUS * 256) + 1 == 5
    # no hand points in this pose: the hand has no core; the union map covers every other limb
    assert not cores[names.index("right_hand")].any()
    assert limb_core_map(kp, 256, 192).sum() == cores.any(0).sum()


def test_coverage_counts_a_limb_the_alpha_leaves_out():
    kp = _pose()
    h, w = 256, 192
    body = limb_core_map(kp, h, w, radius=0.03)  # a mask of the person: wide capsules
    alpha = body.copy()
    alpha[:, :50] = 0  # the stretched arm (x < 50) is not drawn
    cov = LimbCoverage()
    cov.add(kp, body, alpha)
    s = cov.summary()
    assert s["mask_covers_forearm"] == 1 and s["mask_covers_upper_arm"] == 1
    assert s["alpha_covers_forearm"] == pytest.approx(0.5)  # the right forearm lost, the left kept
    assert 0.5 < s["alpha_covers_upper_arm"] < 1  # the right upper arm's end, near the elbow
    assert s["alpha_covers_shin"] == 1 and s["cover_shin_limbs"] == 2
    assert s["cover_hand_limbs"] == 0 and np.isnan(s["alpha_covers_hand"])
    # beyond the video nothing counts
    valid = np.ones((h, w), bool)
    valid[:, :50] = False
    cov = LimbCoverage()
    cov.add(kp, body, alpha, valid)
    assert cov.summary()["alpha_covers_forearm"] == 1
    assert "| forearm | 1.00 | 0.50 (2) |" in coverage_table({"val": s})


def test_limbs_drawn_where_asked():
    ref = _pose()
    acc = GroupFidelity()
    acc.add(ref.copy(), ref)
    off = ref.copy()
    off[B["right_wrist"], 1] += 0.2 * body_height(ref)  # the stretched arm drawn hanging
    off[B["left_knee"]] = 0  # a knee not found: not drawn
    acc.add(off, ref)
    s = acc.summary()
    assert s["limb_drawn_forearm_events"] == 4 and s["limb_drawn_forearm"] == 0.75
    assert s["limb_drawn_thigh"] == 0.75 and s["limb_drawn_shin"] == 1 and s["limb_drawn_upper_arm"] == 1
    assert s["limb_drawn_hand_events"] == 0 and np.isnan(s["limb_drawn_hand"])
    # the wrists' distance: 0 and 0.2 body heights for the right one, 0 twice for the left one
    assert s["limb_end_dist_forearm"] == pytest.approx(0.2 * body_height(ref) / 4)
    assert s["limb_end_dist_thigh"] == 0  # the knee not found has no distance
    raised = ref.copy()
    raised[B["right_wrist"], 1] = 20  # above the shoulder
    acc = GroupFidelity()
    acc.add(raised, raised)
    acc.add(ref, raised)  # drawn out sideways, not raised
    s = acc.summary()
    assert s["limb_drawn_raised_wrist_events"] == 2 and s["limb_drawn_raised_wrist"] == 0.5


def test_limbs_drawn_on_a_synthetic_performer_whose_poses_are_known(tmp_path):
    """Re-detection on a rendered performer finds the limbs where they were drawn; asked for other
    places, the same video counts them as not drawn."""
    from dancenow.evaluation.evaluate import transfer_fidelity
    from dancenow.synthetic.video import make_clip

    truth = make_clip(tmp_path / "dancer.mp4", seconds=1.0, fps=15, size=(256, 256), seed=2)
    s = transfer_fidelity(tmp_path / "dancer.mp4", truth, progress=False)
    for kind in ("upper_arm", "forearm", "thigh", "shin"):
        assert s[f"limb_drawn_{kind}_events"] == 2 * len(truth)
        assert s[f"limb_drawn_{kind}"] >= 0.8, kind
    asked = truth.copy()
    height = np.array([body_height(k) for k in truth])
    asked[:, B["right_wrist"], 1] -= 0.3 * height  # every right wrist asked 0.3 body heights higher
    asked[:, B["left_ankle"], 0] += 0.3 * height
    s2 = transfer_fidelity(tmp_path / "dancer.mp4", asked, progress=False)
    assert s2["limb_drawn_forearm"] <= s["limb_drawn_forearm"] - 0.4
    assert s2["limb_drawn_shin"] <= s["limb_drawn_shin"] - 0.4
    assert s2["limb_drawn_thigh"] == s["limb_drawn_thigh"]
