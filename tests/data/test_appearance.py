"""Appearance conditioning's data side: pose retrieval with its exclusion window, the per-part
warp, and the dataset items that carry them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dancenow.data.appearance import AppearanceBank, exclusion_frames, warp_parts
from dancenow.data.dataset import FrameDataset, PairDataset, load_dataset_info
from dancenow.pose.nearest import PoseIndex, nearest_pose_indices, normalized_body


def _poses(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 137, 3)`` random bodies (every body joint present), nothing else."""
    rng = np.random.default_rng(seed)
    kp = np.zeros((n, 137, 3), np.float32)
    kp[:, :25, :2] = rng.uniform(0, 100, (n, 25, 2))
    kp[:, :25, 2] = 1
    return kp


def test_index_matches_a_plain_scan_and_skips_missing_joints():
    train, query = normalized_body(_poses(40)), normalized_body(_poses(7, seed=1))
    got = PoseIndex(train).query(query, 3)
    for q, row in zip(query, got, strict=True):  # a scan: mean distance over shared joints
        d = np.linalg.norm(train[:, :, :2] - q[None, :, :2], axis=2).mean(1)
        assert row.tolist() == np.argsort(d, kind="stable")[:3].tolist()
    assert nearest_pose_indices(train, query).tolist() == got[:, 0].tolist()
    # a query without a body finds nothing (-1), a candidate without one is never found
    empty = np.zeros((1, 25, 3))
    assert PoseIndex(train).query(empty, 2).tolist() == [[-1, -1]]
    train[5] = 0
    assert 5 not in PoseIndex(train).query(query, 39)


def test_exclusion_window_never_returns_a_frame_near_the_query():
    # a slow motion: the nearest poses of each frame are its own neighbours in time
    kp = _poses(1)[np.zeros(60, int)].copy()
    kp[:, 4, 1] += np.arange(60, dtype=np.float32)  # the right wrist rises steadily
    index = PoseIndex.from_keypoints(kp, np.arange(60))
    frames = np.arange(60)
    plain = index.query(normalized_body(kp), 1)[:, 0]
    assert (plain == frames).all()  # without the window: each frame retrieves itself
    n = 5
    found = index.query(normalized_body(kp), 3, query_frames=frames, exclude=n)
    assert (found >= 0).all()
    assert (np.abs(found - frames[:, None]) > n).all()
    assert (np.abs(found[:, 0] - frames) == n + 1).sum() > 40  # the nearest allowed ones
    assert exclusion_frames(30) == 15 and exclusion_frames(10) == 5 and exclusion_frames(1) == 1


def test_training_items_never_retrieve_their_own_time_window(tiny_dataset):
    ds = PairDataset(tiny_dataset, "train", appearance="warped", neighbours=2)
    info = load_dataset_info(tiny_dataset)
    n = exclusion_frames(info.fps)
    t0, t1 = info.split_range("train")
    frames = np.arange(ds.start, ds.stop)
    got = ds.neighbours
    assert got.shape == (len(frames), 2) and (got[:, 0] >= 0).all()
    ok = got >= 0
    assert (np.abs(got - frames[:, None])[ok] > n).all()
    assert ((got[ok] >= t0) & (got[ok] < t1)).all()  # only training frames are retrieved
    item = ds[3]
    for s in ("", "_prev"):
        assert item[f"appearance{s}"].shape == item["image"].shape
        assert item[f"appearance_valid{s}"].shape == item["valid"].shape
        valid = item[f"appearance_valid{s}"]
        assert 0 <= valid.min() and valid.max() <= 1 and valid.sum() > 0
    val = FrameDataset(tiny_dataset, "val", appearance="nearest")
    assert {"appearance", "appearance_valid"} <= set(val[0])
    assert "appearance" not in PairDataset(tiny_dataset, "train")[0]  # none: batches unchanged


def _frame(dataset, t: int):
    frames = np.load(dataset / "frames.npy", mmap_mode="r")
    masks = np.load(dataset / "masks.npy", mmap_mode="r")
    return np.array(frames[t]), np.array(masks[t]), np.load(dataset / "keypoints.npy")[t]


def test_warping_a_frame_into_its_own_pose_is_the_identity(tiny_dataset):
    image, mask, kp = _frame(tiny_dataset, 7)
    rgb, valid = warp_parts(image, mask, kp, kp)
    person = mask > 127
    assert person.sum() > 100
    covered = valid > 0.5
    assert (covered & person).sum() > 0.9 * person.sum()  # the parts cover the person
    diff = np.abs(rgb.astype(np.float32) - image)[covered & person]
    assert diff.mean() < 1.0
    assert not covered[mask == 0].any()  # never beyond the person mask


def test_warping_follows_a_moved_pose(tiny_dataset):
    """The person shifted by (6, 4) px and their pose shifted the same: warping the original
    into the shifted pose gives the shifted image (the transforms point the right way)."""
    image, mask, kp = _frame(tiny_dataset, 7)
    h, w = mask.shape
    m = np.float32([[1, 0, 6], [0, 1, 4]])
    moved_image = cv2_shift(image, m, w, h)
    moved_kp = kp.copy()
    moved_kp[:, :2] += (6, 4)
    rgb, valid = warp_parts(image, mask, kp, moved_kp)
    covered = (valid > 0.5) & (cv2_shift(mask, m, w, h) > 127)
    assert covered.sum() > 100
    assert np.abs(rgb.astype(np.float32) - moved_image)[covered].mean() < 2.0
    # the identity pose instead leaves the person where it was: far from the shifted image
    still, _ = warp_parts(image, mask, kp, kp)
    assert np.abs(still.astype(np.float32) - moved_image)[covered].mean() > 4.0


def cv2_shift(image, m, w, h):
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)


def test_missing_joints_leave_their_parts_out(tiny_dataset):
    image, mask, kp = _frame(tiny_dataset, 7)
    _, v_full = warp_parts(image, mask, kp, kp)
    no_arm = kp.copy()
    no_arm[[3, 4], 2] = 0  # right elbow and wrist
    _, v_arm = warp_parts(image, mask, kp, no_arm)
    assert v_arm.sum() < v_full.sum()
    nothing = np.zeros_like(kp)
    rgb, valid = warp_parts(image, mask, kp, nothing)
    assert valid.max() == 0 and rgb.max() == 0


def test_bank_condition_modes(tiny_dataset):
    info = load_dataset_info(tiny_dataset)
    t0, t1 = info.split_range("train")
    frames = np.load(tiny_dataset / "frames.npy")[t0:t1]
    masks = np.load(tiny_dataset / "masks.npy")[t0:t1]
    kp = np.load(tiny_dataset / "keypoints.npy")[t0:t1]
    bank = AppearanceBank(frames, masks, kp, PoseIndex.from_keypoints(kp))
    rgb, valid = bank.condition(2, kp[5], "nearest")
    person = masks[2] > 0
    assert np.allclose(valid, masks[2] / 255.0) and np.array_equal(rgb[person], frames[2][person])
    rgb, valid = bank.condition(-1, kp[5], "warped")
    assert valid.max() == 0 and rgb.shape == frames[0].shape
    with pytest.raises(ValueError, match="mode"):
        bank.condition(0, kp[5], "none")
    with pytest.raises(ValueError, match="length"):
        AppearanceBank(frames[:-1], masks, kp, PoseIndex.from_keypoints(kp))
