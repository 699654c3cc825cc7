"""The canonical keypoint layout, ``openpose137``, as data.

One array per video, ``(T, 137, 3)`` float32 = (x, y, confidence) in pixels of the
original frame; confidence 0 means missing (and then x = y = 0).

Names, limb pairs, colours and the left/right swap table live here and nowhere else:
rendering, normalization, flipping and metrics all read them from this module.
"""

from __future__ import annotations

import numpy as np

LAYOUT = "openpose137"
NUM_KEYPOINTS = 137

BODY = slice(0, 25)
FACE = slice(25, 95)
LEFT_HAND = slice(95, 116)
RIGHT_HAND = slice(116, 137)
PARTS: dict[str, slice] = {"body": BODY, "face": FACE, "left_hand": LEFT_HAND, "right_hand": RIGHT_HAND}

# --- body: OpenPose BODY_25 -------------------------------------------------------------
BODY_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "mid_hip", "right_hip",
    "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe",
    "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip
B = {name: i for i, name in enumerate(BODY_NAMES)}

# OpenPose's render order for BODY_25 (POSE_BODY_25_PAIRS_RENDER).
BODY_LIMBS = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
    (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)  # fmt: skip

# OpenPose's per-keypoint colours (RGB); a limb takes the colour of its second keypoint,
# as OpenPose's renderer does.
BODY_COLORS = (
    (255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0),
    (170, 255, 0), (85, 255, 0), (0, 255, 0), (255, 0, 0), (0, 255, 85),
    (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255),
    (255, 0, 170), (170, 0, 255), (255, 0, 255), (85, 0, 255), (0, 0, 255),
    (0, 0, 255), (0, 0, 255), (0, 255, 255), (0, 255, 255), (0, 255, 255),
)  # fmt: skip

BODY_SWAP = (
    (2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14),
    (15, 16), (17, 18), (19, 22), (20, 23), (21, 24),
)  # fmt: skip

# --- face: OpenPose face 70 = iBUG 68 + 2 pupils ------------------------------------------
# iBUG-68 regions and points, as indices into the 70 face points (FACE); the person's own right/left
FACE_JAW = slice(0, 17)
FACE_RIGHT_BROW = slice(17, 22)
FACE_LEFT_BROW = slice(22, 27)
FACE_NOSE_BRIDGE = slice(27, 31)
FACE_NOSE_BASE = slice(31, 36)
FACE_RIGHT_EYE = slice(36, 42)
FACE_LEFT_EYE = slice(42, 48)
FACE_MOUTH_OUTER = slice(48, 60)
FACE_MOUTH_INNER = slice(60, 68)
FACE_CHIN = 8
FACE_NOSE_TIP = 30
FACE_RIGHT_PUPIL = 68
FACE_LEFT_PUPIL = 69
_FACE_REGIONS = {
    "jaw": (FACE_JAW, False),
    "right_brow": (FACE_RIGHT_BROW, False),
    "left_brow": (FACE_LEFT_BROW, False),
    "nose_bridge": (FACE_NOSE_BRIDGE, False),
    "nose_base": (FACE_NOSE_BASE, False),
    "right_eye": (FACE_RIGHT_EYE, True),
    "left_eye": (FACE_LEFT_EYE, True),
    "mouth_outer": (FACE_MOUTH_OUTER, True),
    "mouth_inner": (FACE_MOUTH_INNER, True),
}  # name -> (points, closed outline)

FACE_NAMES = tuple(
    [f"{name}_{i}" for name, (part, _) in _FACE_REGIONS.items() for i in range(part.stop - part.start)]
    + ["right_pupil", "left_pupil"]
)


def _chain(start: int, stop: int, closed: bool = False) -> list[tuple[int, int]]:
    pairs = [(i, i + 1) for i in range(start, stop - 1)]
    return pairs + ([(stop - 1, start)] if closed else [])


FACE_LIMBS = tuple(
    pair for part, closed in _FACE_REGIONS.values() for pair in _chain(part.start, part.stop, closed)
)
FACE_COLOR = (255, 255, 255)

# iBUG 68 mirror pairs (jaw i <-> 16-i, brows, nose wings, eyes, mouth) + pupils.
FACE_SWAP = tuple(
    [(i, 16 - i) for i in range(8)]
    + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22)]
    + [(31, 35), (32, 34)]
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]
    + [(60, 64), (61, 63), (65, 67)]
    + [(68, 69)]
)

# --- hands: OpenPose hand 21 ---------------------------------------------------------------
HAND_NAMES = ("wrist",) + tuple(
    f"{finger}_{j}" for finger in ("thumb", "index", "middle", "ring", "pinky") for j in range(1, 5)
)
HAND_LIMBS = tuple((0 if j == 0 else 1 + 4 * f + j - 1, 1 + 4 * f + j) for f in range(5) for j in range(4))
# OpenPose's per-keypoint hand colours: one hue per finger, brighter towards the tip.
HAND_COLORS = (
    (100, 100, 100),
    (100, 0, 0), (150, 0, 0), (200, 0, 0), (255, 0, 0),
    (100, 100, 0), (150, 150, 0), (200, 200, 0), (255, 255, 0),
    (0, 100, 50), (0, 150, 75), (0, 200, 100), (0, 255, 125),
    (0, 50, 100), (0, 75, 150), (0, 100, 200), (0, 125, 255),
    (100, 0, 100), (150, 0, 150), (200, 0, 200), (255, 0, 255),
)  # fmt: skip

# --- the whole layout ----------------------------------------------------------------------
NAMES: tuple[str, ...] = (
    BODY_NAMES
    + tuple(f"face_{n}" for n in FACE_NAMES)
    + tuple(f"left_hand_{n}" for n in HAND_NAMES)
    + tuple(f"right_hand_{n}" for n in HAND_NAMES)
)
assert len(NAMES) == NUM_KEYPOINTS


def _offset(pairs, off: int) -> tuple[tuple[int, int], ...]:
    return tuple((a + off, b + off) for a, b in pairs)


def _swap_permutation() -> np.ndarray:
    perm = np.arange(NUM_KEYPOINTS)
    pairs = list(BODY_SWAP) + list(_offset(FACE_SWAP, FACE.start))
    pairs += [(LEFT_HAND.start + i, RIGHT_HAND.start + i) for i in range(21)]
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


# FLIP_PERMUTATION[i] = index of the keypoint that becomes i after a horizontal flip.
FLIP_PERMUTATION = _swap_permutation()


def flip_horizontal(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Mirror ``(..., 137, 3)`` keypoints in a frame of ``width`` pixels, swapping left/right."""
    out = keypoints[..., FLIP_PERMUTATION, :].copy()
    valid = out[..., 2] > 0
    out[..., 0] = np.where(valid, (width - 1) - out[..., 0], 0.0)
    return out


def empty(num_frames: int) -> np.ndarray:
    """All-missing keypoints, ``(T, 137, 3)`` float32."""
    return np.zeros((num_frames, NUM_KEYPOINTS, 3), np.float32)


# Joint groups for per-limb fidelity: indices into the whole layout. A dance is its arms and
# legs; a mean over all joints is dominated by the torso, which barely moves. The shoulders and
# hips belong to the torso; "wrists_hands" holds both body wrists and all 42 hand points.
JOINT_GROUPS: dict[str, tuple[int, ...]] = {
    "head": tuple(B[n] for n in ("nose", "right_eye", "left_eye", "right_ear", "left_ear")),
    "torso": tuple(
        B[n] for n in ("neck", "right_shoulder", "left_shoulder", "mid_hip", "right_hip", "left_hip")
    ),
    "arms": (B["right_elbow"], B["left_elbow"]),
    "wrists_hands": (B["right_wrist"], B["left_wrist"], *range(LEFT_HAND.start, RIGHT_HAND.stop)),
    "legs": tuple(B[n] for n in ("right_knee", "left_knee", "right_ankle", "left_ankle")),
    "feet": tuple(B[n] for n in BODY_NAMES[B["left_big_toe"] :]),  # toes and heels, both sides
}
# The limbs judged one by one ("is the left forearm drawn?"), per side: each a segment from a
# joint to the joint beyond it (its far end says whether the limb was placed where it was asked).
# A hand runs from the body's wrist to its own middle-finger knuckle (hand point 9).
LIMB_KINDS = ("upper_arm", "forearm", "hand", "thigh", "shin")
LIMB_SEGMENTS: dict[str, tuple[int, int]] = {
    f"{side}_{kind}": segment
    for side, hand in (("right", RIGHT_HAND), ("left", LEFT_HAND))
    for kind, segment in zip(
        LIMB_KINDS,
        (
            (B[f"{side}_shoulder"], B[f"{side}_elbow"]),
            (B[f"{side}_elbow"], B[f"{side}_wrist"]),
            (B[f"{side}_wrist"], hand.start + 9),
            (B[f"{side}_hip"], B[f"{side}_knee"]),
            (B[f"{side}_knee"], B[f"{side}_ankle"]),
        ),
        strict=True,
    )
}
# (wrist, shoulder) of each side, for "was a raised hand drawn raised?"
WRIST_SHOULDER = ((B["right_wrist"], B["right_shoulder"]), (B["left_wrist"], B["left_shoulder"]))

# Joints of other skeletons that have a BODY_25 counterpart (used by accuracy checks).
COCO17_TO_BODY25 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
# Human3.6M 17-joint order (pelvis, r-hip, r-knee, r-foot, l-hip, l-knee, l-foot, spine, thorax,
# neck/nose, head, l-shoulder, l-elbow, l-wrist, r-shoulder, r-elbow, r-wrist) -> BODY_25
# (-1: no counterpart; spine, neck/nose and head top are mocap joints OpenPose does not predict).
# Note: mmpose's h36m_coco.json names joints 1-3 "left" and 4-6 "right"; the coordinates follow
# the standard order above (joint 1 lies on the same side as the right shoulder, 14).
H36M17_TO_BODY25 = (8, 9, 10, 11, 12, 13, 14, -1, 1, -1, -1, 5, 6, 7, 2, 3, 4)
