"""MediaPipe Holistic → ``openpose137``, and MediaPipe person masks (:class:`PersonSegmenter`).

MediaPipe 0.10.21 ships its models in the wheel, so this runs offline; only
``model_complexity=1`` is bundled (0 and 2 would download). Holistic follows one person
and gives BlazePose's 33 body points, a 478-point face mesh (468 + irises with
``refine_face_landmarks``) and 21 points per hand, all normalised to [0, 1].

Mapping to OpenPose (what has no counterpart gets confidence 0):
- BODY_25 from BlazePose 33: nose, eyes (BlazePose's eye centres), ears, shoulders, elbows,
  wrists, hips, knees, ankles map one to one; the neck and the mid-hip are derived as the
  midpoints of the shoulders and the hips, with the minimum confidence of the two;
  heels come from BlazePose's heels and the big toes from its ``foot_index`` (tip of the
  foot). The **small toes (20, 23) have no BlazePose counterpart and are always missing.**
  Confidence is BlazePose's per-landmark visibility; points below ``min_visibility`` or
  outside the frame are marked missing, as OpenPose would not report them.
  (BlazePose's hips sit slightly higher and wider than OpenPose's; we keep them as they are.)
- Face 70 from the face mesh: the 68 iBUG points are the mesh vertices conventionally
  matched to them (``FACE_MESH_TO_IBUG68``, checked against OpenPose's face output on the
  shared ``openpose_frames`` fixture); the pupils (68, 69) are the iris centres 468/473.
  The mesh has no per-point confidence: every point gets confidence 1 when the face is found.
- Hands 21 → 21 in the same order (wrist, then four joints per finger, thumb to pinky).
  Holistic's ``left_hand_landmarks`` is the person's own left hand (it is cropped around
  the pose's left wrist). Confidence 1 when the hand is found.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from dancenow.pose.layout import FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND

# BODY_25 index -> BlazePose 33 index (-1: derived or no counterpart).
BLAZEPOSE_TO_BODY25 = (
    0,   # 0 nose
    -1,  # 1 neck = mid-shoulders
    12, 14, 16,  # right shoulder, elbow, wrist
    11, 13, 15,  # left shoulder, elbow, wrist
    -1,  # 8 mid-hip = mid-hips
    24, 26, 28,  # right hip, knee, ankle
    23, 25, 27,  # left hip, knee, ankle
    5, 2,  # right eye, left eye
    8, 7,  # right ear, left ear
    31,  # 19 left big toe  <- left foot_index
    -1,  # 20 left small toe: no counterpart
    29,  # 21 left heel
    32,  # 22 right big toe <- right foot_index
    -1,  # 23 right small toe: no counterpart
    30,  # 24 right heel
)  # fmt: skip

# iBUG 68 index -> face-mesh vertex: jaw (17), brows (5 + 5), nose bridge (4), nose base (5),
# eyes (6 + 6), outer lips (12), inner lips (8). iBUG's "right" is the person's right,
# which is also the mesh's.
FACE_MESH_TO_IBUG68 = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    71, 63, 105, 66, 107,
    336, 296, 334, 293, 301,
    168, 197, 5, 4,
    75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144,
    362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)  # fmt: skip
IRIS_CENTERS = (468, 473)  # right pupil, left pupil (refine_face_landmarks)
FACE_MESH_TO_FACE70 = FACE_MESH_TO_IBUG68 + IRIS_CENTERS


def _landmarks_array(landmarks, with_visibility: bool) -> np.ndarray:
    """MediaPipe landmark list -> (N, 3) float32 of (x, y, visibility-or-1), normalised."""
    pts = landmarks.landmark
    if with_visibility:
        return np.array([(p.x, p.y, p.visibility) for p in pts], np.float32)
    return np.array([(p.x, p.y, 1.0) for p in pts], np.float32)


def holistic_to_openpose137(result, width: int, height: int, *, min_visibility: float = 0.5) -> np.ndarray:
    """Convert one Holistic result to ``(137, 3)`` float32 in pixels of a ``width × height`` frame."""
    out = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    scale = np.array([width, height], np.float32)

    if result.pose_landmarks is not None:
        bp = _landmarks_array(result.pose_landmarks, with_visibility=True)
        for j, src in enumerate(BLAZEPOSE_TO_BODY25):
            if src >= 0:
                out[j] = bp[src]
        for j, (a, b) in ((1, (11, 12)), (8, (23, 24))):
            out[j, :2] = (bp[a, :2] + bp[b, :2]) / 2
            out[j, 2] = min(bp[a, 2], bp[b, 2])
        body = out[:25]
        body[:, :2] *= scale
        inside = (body[:, 0] >= 0) & (body[:, 0] < width) & (body[:, 1] >= 0) & (body[:, 1] < height)
        body[(body[:, 2] < min_visibility) | ~inside] = 0.0

    if result.face_landmarks is not None:
        mesh = _landmarks_array(result.face_landmarks, with_visibility=False)
        if len(mesh) > max(IRIS_CENTERS):
            face = mesh[list(FACE_MESH_TO_FACE70)]
        else:  # no irises without refine_face_landmarks: pupils missing
            face = np.zeros((70, 3), np.float32)
            face[:68] = mesh[list(FACE_MESH_TO_IBUG68)]
        face[:, :2] *= scale
        out[FACE] = face

    for landmarks, part in (
        (result.left_hand_landmarks, LEFT_HAND),
        (result.right_hand_landmarks, RIGHT_HAND),
    ):
        if landmarks is not None:
            hand = _landmarks_array(landmarks, with_visibility=False)
            hand[:, :2] *= scale
            out[part] = hand

    out[out[:, 2] <= 0] = 0.0
    return out


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence MediaPipe's native start-up chatter (TFLite/absl write straight to fd 2)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class HolisticDetector:
    """Stateful MediaPipe Holistic over consecutive frames of one video (tracking mode).

    ``static=True`` treats every frame independently (for still images).
    """

    name = "mediapipe-holistic-0.10.21"

    def __init__(self, *, static: bool = False, min_visibility: float = 0.5, max_side: int | None = None):
        import mediapipe as mp  # imported lazily: it is slow to import and spams the log

        self.min_visibility = min_visibility
        # Holistic runs its networks at 256 px whatever the input; resizing large frames first
        # only saves the colour conversion and the copy into MediaPipe.
        self.max_side = max_side
        with _quiet_native_stderr():
            self._holistic = mp.solutions.holistic.Holistic(
                static_image_mode=static,
                model_complexity=1,  # the only complexity whose model ships in the wheel
                smooth_landmarks=not static,
                refine_face_landmarks=True,
                min_detection_confidence=0.5,
                min_tracking_confidence=0.5,
            )

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame -> (137, 3) float32 keypoints in that frame's pixels."""
        height, width = image.shape[:2]
        if self.max_side is not None and max(height, width) > self.max_side:
            import cv2

            s = self.max_side / max(height, width)
            image = cv2.resize(image, (round(width * s), round(height * s)), interpolation=cv2.INTER_AREA)
        image = np.ascontiguousarray(image)
        # The graph builds its sub-models lazily (the face and hand models when a person first
        # appears) and logs about it from native code, so every call is silenced.
        with _quiet_native_stderr():
            result = self._holistic.process(image)
        return holistic_to_openpose137(result, width, height, min_visibility=self.min_visibility)

    def close(self) -> None:
        self._holistic.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PersonSegmenter:
    """Soft person masks of consecutive frames of one video (tracking mode), from MediaPipe.

    The mask is the one Holistic computes with ``enable_segmentation=True``: BlazePose's
    landmark model outputs it alongside the body points. Running BlazePose alone (without the
    face mesh and hand models) gives that mask for a fraction of Holistic's cost, so frames
    whose poses are already known (a pose file, or detection earlier in the same run) are
    segmented without detecting their poses again.
    """

    name = "mediapipe-pose-segmentation-0.10.21"

    def __init__(self, *, max_side: int | None = None):
        import mediapipe as mp  # imported lazily: it is slow to import and spams the log

        # The segmentation network runs at 256 px around the person whatever the input size;
        # larger frames are shrunk first to save the conversion into MediaPipe.
        self.max_side = max_side
        with _quiet_native_stderr():
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=False,
                model_complexity=1,  # the only complexity whose model ships in the wheel
                smooth_landmarks=True,
                enable_segmentation=True,
                smooth_segmentation=True,
                min_detection_confidence=0.5,
                min_tracking_confidence=0.5,
            )

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB frame -> ``(H, W)`` uint8 person mask (255 = person, 0 = not).

        All zeros while no person is found.
        """
        import cv2

        height, width = image.shape[:2]
        small = image
        if self.max_side is not None and max(height, width) > self.max_side:
            s = self.max_side / max(height, width)
            small = cv2.resize(image, (round(width * s), round(height * s)), interpolation=cv2.INTER_AREA)
        with _quiet_native_stderr():
            result = self._pose.process(np.ascontiguousarray(small))
        if result.segmentation_mask is None:
            return np.zeros((height, width), np.uint8)
        mask = np.clip(result.segmentation_mask * 255 + 0.5, 0, 255).astype(np.uint8)
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        return mask

    def close(self) -> None:
        self._pose.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
