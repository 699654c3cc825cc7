import numpy as np
import pytest

from dancenow.pose import layout as L


def test_sizes_and_slices_cover_the_layout():
    assert L.NUM_KEYPOINTS == 137 == len(L.NAMES) == len(set(L.NAMES))
    assert [p.stop - p.start for p in L.PARTS.values()] == [25, 70, 21, 21]
    assert len(L.BODY_NAMES) == len(L.BODY_COLORS) == 25
    assert len(L.FACE_NAMES) == 70 and len(L.HAND_NAMES) == len(L.HAND_COLORS) == 21


@pytest.mark.parametrize(
    "limbs,size", [(L.BODY_LIMBS, 25), (L.FACE_LIMBS, 70), (L.HAND_LIMBS, 21)], ids=["body", "face", "hand"]
)
def test_limbs_index_existing_points_and_connect_everything(limbs, size):
    used = {i for pair in limbs for i in pair}
    assert all(0 <= i < size for i in used)
    # every point but the face's pupils belongs to some limb
    assert used == set(range(size)) - ({68, 69} if size == 70 else set())


def test_hand_limbs_are_the_openpose_finger_chains():
    assert L.HAND_LIMBS[:4] == ((0, 1), (1, 2), (2, 3), (3, 4))
    assert L.HAND_LIMBS[4:8] == ((0, 5), (5, 6), (6, 7), (7, 8))


def test_swap_tables_pair_left_with_right_by_name():
    for a, b in L.BODY_SWAP:
        na, nb = L.BODY_NAMES[a], L.BODY_NAMES[b]
        assert na.replace("right", "left") == nb or na.replace("left", "right") == nb, (na, nb)
    perm = L.FLIP_PERMUTATION
    assert sorted(perm) == list(range(137))
    assert np.array_equal(perm[perm], np.arange(137)), "swapping twice must be the identity"
    assert perm[L.LEFT_HAND.start] == L.RIGHT_HAND.start


def test_flip_horizontal_mirrors_and_swaps():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, (4, 137, 3)).astype(np.float32)
    kp[:, 10] = 0  # a missing point stays missing
    flipped = L.flip_horizontal(kp, width=101)
    assert np.allclose(L.flip_horizontal(flipped, width=101), kp, atol=1e-4)
    right_wrist, left_wrist = L.B["right_wrist"], L.B["left_wrist"]
    assert np.allclose(flipped[:, left_wrist, 0], 100 - kp[:, right_wrist, 0])
    assert np.all(flipped[:, L.FLIP_PERMUTATION[10]] == 0)


def test_skeleton_mappings_target_distinct_body_joints():
    for mapping in (L.COCO17_TO_BODY25, L.H36M17_TO_BODY25):
        targets = [j for j in mapping if j >= 0]
        assert len(targets) == len(set(targets)) and all(0 <= j < 25 for j in targets)
    assert L.BODY_NAMES[L.COCO17_TO_BODY25[9]] == "left_wrist"
    assert L.BODY_NAMES[L.H36M17_TO_BODY25[3]] == "right_ankle"


def test_joint_groups_split_body_and_hands_once_each():
    joints = [j for group in L.JOINT_GROUPS.values() for j in group]
    assert len(joints) == len(set(joints))
    assert set(joints) == set(range(25)) | set(range(L.LEFT_HAND.start, L.RIGHT_HAND.stop))
    assert list(L.JOINT_GROUPS) == ["head", "torso", "arms", "wrists_hands", "legs", "feet"]
    names = {g: {L.NAMES[j] for j in idx} for g, idx in L.JOINT_GROUPS.items()}
    assert {"right_elbow", "left_elbow"} == names["arms"] and "left_wrist" in names["wrists_hands"]
    assert "right_heel" in names["feet"] and "left_knee" in names["legs"] and "neck" in names["torso"]
    for wrist, shoulder in L.WRIST_SHOULDER:
        assert L.NAMES[wrist].replace("wrist", "shoulder") == L.NAMES[shoulder]
