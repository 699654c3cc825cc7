import numpy as np
import pytest

from dancenow.evaluation.evaluate import markdown_table
from dancenow.evaluation.keypoints import GroupFidelity
from dancenow.evaluation.metrics import body_box, flicker, pose_distance, psnr, ssim
from dancenow.pose.nearest import nearest_pose_indices, normalized_body


def test_ssim_identity_and_agreement_with_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    ref = structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=True, channel_axis=-1, data_range=255
    )
    assert ssim(a, b) == pytest.approx(ref, abs=1e-9) and ssim(a, b) < 0.99


def test_psnr_known_value():
    a = np.zeros((10, 10, 3), np.uint8)
    b = np.full((10, 10, 3), 10, np.uint8)  # MSE 100 -> 10 log10(255² / 100)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 100))
    assert psnr(a, a) == float("inf")


def test_pose_distance_zero_for_identical_and_known_shift():
    kp = np.zeros((137, 3), np.float32)
    kp[:25] = (10, 20, 1)
    kp[100:105] = (5, 5, 1)
    d = pose_distance(kp, kp)
    assert d["body"] == 0 and d["hands"] == 0 and np.isnan(d["face"])
    shifted = kp.copy()
    shifted[:25, 0] += 3
    assert pose_distance(kp, shifted, scale=2.0)["body"] == pytest.approx(6.0)


def test_flicker_and_body_box():
    still = [np.full((4, 4, 3), 100, np.uint8)] * 3
    moving = [np.full((4, 4, 3), v, np.uint8) for v in (100, 110, 100)]
    assert flicker(still) == 0 and flicker(moving) == 10 and flicker(moving, moving) == 0
    kp = np.zeros((137, 3), np.float32)
    kp[0] = (50, 20, 1)
    kp[11] = (60, 90, 1)
    x0, y0, x1, y1 = body_box(kp, 100, 100)
    assert x0 < 50 < 60 < x1 and y0 < 20 < 90 < y1


def test_nearest_pose_returns_the_training_frame_of_a_training_pose():
    rng = np.random.default_rng(1)
    train = rng.uniform(0, 200, (30, 137, 3)).astype(np.float32)
    train[..., 2] = 1
    query = train[[7, 21]] * 1.5 + 40  # same poses, moved and scaled: normalization undoes it
    query[..., 2] = 1
    assert nearest_pose_indices(normalized_body(train), normalized_body(query)).tolist() == [7, 21]


def test_markdown_table_lists_methods_and_paper():
    table = markdown_table({"model": {"body_ssim": 0.8}, "nearest-pose": {"body_ssim": 0.7}})
    assert "| body SSIM ↑ | 0.800 | 0.700 | 0.898 |" in table
    assert "| LPIPS (published) | not measured | not measured | 0.031 |" in table
    assert "not comparable with the paper" in table


def _standing() -> np.ndarray:
    """A (137, 3) upright pose (arms down, body joints only) with a 100 px torso diagonal scale."""
    from dancenow.pose.layout import B

    kp = np.zeros((137, 3), np.float32)
    at = {
        "nose": (100, 40), "neck": (100, 70), "right_shoulder": (80, 70), "left_shoulder": (120, 70),
        "right_elbow": (75, 110), "left_elbow": (125, 110), "right_wrist": (72, 150),
        "left_wrist": (128, 150), "mid_hip": (100, 160), "right_hip": (90, 160), "left_hip": (110, 160),
        "right_knee": (90, 210), "left_knee": (110, 210), "right_ankle": (90, 260),
        "left_ankle": (110, 260), "right_heel": (88, 268), "left_heel": (112, 268),
    }  # fmt: skip
    for name, (x, y) in at.items():
        kp[B[name]] = (x, y, 1)
    return kp


def test_group_fidelity_per_group_distance_pck_and_raised_wrists():
    from dancenow.pose.layout import B

    ref = _standing()
    acc = GroupFidelity()
    row = acc.add(ref.copy(), ref, scale=2.0)
    assert row["torso"] == 0 and row["arms"] == 0 and row["feet"] == 0
    moved = ref.copy()
    moved[B["right_elbow"], 0] += 30  # one elbow 30 px off: arms only; beyond 0.2 x torso diagonal
    moved[B["left_wrist"]] = 0  # a wrist not found in the output: a PCK miss, no distance
    row = acc.add(moved, ref, scale=2.0)
    assert row["arms"] == pytest.approx(30.0) and row["torso"] == 0 and row["legs"] == 0
    s = acc.summary()
    assert s["dist_torso"] == 0 and s["pck_torso"] == 1 and s["dist_torso_frames"] == 2
    assert s["dist_arms"] == pytest.approx(15.0) and s["pck_arms"] == pytest.approx(3 / 4)
    assert s["pck_wrists_hands"] == pytest.approx(3 / 4) and s["dist_head"] == 0
    assert s["raised_wrist_events"] == 0 and np.isnan(s["raised_wrist_kept"])
    raised = ref.copy()
    raised[B["right_wrist"], 1] = 30  # above the shoulder (image y grows downwards)
    acc = GroupFidelity()
    acc.add(raised, raised)  # drawn raised
    acc.add(ref, raised)  # drawn down
    s = acc.summary()
    assert s["raised_wrist_events"] == 2 and s["raised_wrist_kept"] == 0.5
