"""Keypoint accuracy: PCK against ground truth and distances between detectors."""

from __future__ import annotations

import numpy as np

from dancenow.pose.layout import JOINT_GROUPS, LIMB_KINDS, LIMB_SEGMENTS, WRIST_SHOULDER, B


def torso_size(points: np.ndarray, visible: np.ndarray) -> float:
    """Mean of the two torso diagonals (shoulder to opposite hip) of a BODY_25-indexed pose.

    ``points`` (25, 2) and ``visible`` (25,) bool. The diagonals are robust to a person facing
    sideways, where the shoulder width collapses. NaN when no diagonal is visible.
    """
    diagonals = [
        np.linalg.norm(points[a] - points[b])
        for a, b in ((B["left_shoulder"], B["right_hip"]), (B["right_shoulder"], B["left_hip"]))
        if visible[a] and visible[b]
    ]
    return float(np.mean(diagonals)) if diagonals else float("nan")


def pck(
    predicted: np.ndarray, truth: np.ndarray, truth_visible: np.ndarray, threshold: float
) -> tuple[int, int]:
    """Count correct keypoints: (hits, total) over joints visible in the ground truth.

    ``predicted`` (J, 3) with confidence 0 for missing (a miss), ``truth`` (J, 2),
    ``truth_visible`` (J,) bool; a joint is correct when within ``threshold`` pixels.
    """
    found = predicted[:, 2] > 0
    dist = np.linalg.norm(predicted[:, :2] - truth, axis=1)
    hits = truth_visible & found & (dist <= threshold)
    return int(hits.sum()), int(truth_visible.sum())


def body_height(keypoints: np.ndarray) -> float:
    """Height of a (137, 3) pose: from the highest head point to the lowest ankle/heel/toe (pixels)."""
    body = keypoints[:25]
    head = [B[n] for n in ("nose", "neck", "right_eye", "left_eye", "right_ear", "left_ear")]
    feet = [
        B[n]
        for n in ("right_ankle", "left_ankle", "right_heel", "left_heel", "right_big_toe", "left_big_toe")
    ]
    top = body[head][body[head, 2] > 0, 1]
    bottom = body[feet][body[feet, 2] > 0, 1]
    if len(top) == 0 or len(bottom) == 0:
        return float("nan")
    return float(bottom.max() - top.min())


def shared_joint_distances(a: np.ndarray, b: np.ndarray, part: slice = slice(0, 25)) -> np.ndarray:
    """Distances (pixels) between two (137, 3) poses over the joints of ``part`` present in both."""
    pa, pb = a[part], b[part]
    both = (pa[:, 2] > 0) & (pb[:, 2] > 0)
    return np.linalg.norm(pa[both, :2] - pb[both, :2], axis=1)


PCK_FRACTION = 0.2  # PCK threshold: this fraction of the reference pose's torso diagonal
DRAWN_FRACTION = 0.1  # a limb is drawn where asked when its far end lies this close (× body height)


class GroupFidelity:
    """How well generated poses follow reference poses, per joint group (``layout.JOINT_GROUPS``).

    Feed it frame by frame with :meth:`add` (memory does not grow with the number of frames);
    :meth:`summary` gives, per group ``g``:

    - ``dist_g``: mean distance (pixels × ``scale``) over joints found in both poses, averaged
      over the frames where the group has any such joint (``dist_g_frames`` of them);
    - ``pck_g``: share of the reference's joints that are found in the output within
      0.2 × the reference's torso diagonal (a joint missing from the output counts as a miss);

    ``raised_wrist_kept``: of the (frame, side) pairs where the reference's wrist is above
    its shoulder (``raised_wrist_events`` of them), the share where the output's wrist is too;
    and per limb kind ``k`` of ``layout.LIMB_KINDS`` ``limb_drawn_k``: of the (frame, side)
    pairs where the reference has the limb (``limb_drawn_k_events``), the share where the
    output's far end of the limb (elbow, wrist, middle knuckle, knee, ankle) lies within
    0.1 × the reference's body height of the reference's (missing in the output: not drawn).
    ``limb_end_dist_k`` is the mean distance (pixels × ``scale``) of that far end where the
    output has it (``limb_end_dist_forearm``: the wrists). ``limb_drawn_raised_wrist`` is the
    share drawn where asked for the wrists of raised hands.
    """

    def __init__(self):
        self.dist_sum = {g: 0.0 for g in JOINT_GROUPS}
        self.dist_frames = dict.fromkeys(JOINT_GROUPS, 0)
        self.hits = dict.fromkeys(JOINT_GROUPS, 0)
        self.total = dict.fromkeys(JOINT_GROUPS, 0)
        self.raised = 0
        self.raised_kept = 0
        self.limb_events = dict.fromkeys(LIMB_KINDS, 0)
        self.limb_drawn = dict.fromkeys(LIMB_KINDS, 0)
        self.end_dist = {k: 0.0 for k in LIMB_KINDS}
        self.end_found = dict.fromkeys(LIMB_KINDS, 0)
        self.raised_events = 0
        self.raised_drawn = 0

    def add(self, found: np.ndarray, reference: np.ndarray, scale: float = 1.0) -> dict[str, float]:
        """One frame: ``found`` and ``reference`` ``(137, 3)`` poses in the same pixels. Returns the
        frame's distances per group (NaN where the group has no joint found in both)."""
        ok_f, ok_r = found[:, 2] > 0, reference[:, 2] > 0
        dist = np.linalg.norm(found[:, :2] - reference[:, :2], axis=1)
        torso = torso_size(reference[:25, :2], ok_r[:25])
        row = {}
        for g, idx in JOINT_GROUPS.items():
            idx = np.asarray(idx)
            both = ok_f[idx] & ok_r[idx]
            row[g] = float(dist[idx][both].mean() * scale) if both.any() else float("nan")
            if both.any():
                self.dist_sum[g] += row[g]
                self.dist_frames[g] += 1
            if np.isfinite(torso):
                self.total[g] += int(ok_r[idx].sum())
                self.hits[g] += int((both & (dist[idx] <= PCK_FRACTION * torso)).sum())
        height = body_height(reference)
        if not np.isfinite(height):  # no feet or no head in view: a torso diagonal is about 1/3
            height = 3 * torso
        near = ok_f & ok_r & (dist <= DRAWN_FRACTION * height) if np.isfinite(height) else None
        for wrist, shoulder in WRIST_SHOULDER:
            if ok_r[wrist] and ok_r[shoulder] and reference[wrist, 1] < reference[shoulder, 1]:
                up = ok_f[wrist] and ok_f[shoulder] and found[wrist, 1] < found[shoulder, 1]
                self.raised += 1
                self.raised_kept += bool(up)
                if near is not None:
                    self.raised_events += 1
                    self.raised_drawn += bool(near[wrist])
        if near is not None:
            for name, (a, b) in LIMB_SEGMENTS.items():
                if ok_r[a] and ok_r[b]:
                    kind = name.split("_", 1)[1]
                    self.limb_events[kind] += 1
                    self.limb_drawn[kind] += bool(near[b])
                    if ok_f[b]:
                        self.end_dist[kind] += float(dist[b] * scale)
                        self.end_found[kind] += 1
        return row

    def summary(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {}
        for g in JOINT_GROUPS:
            n = self.dist_frames[g]
            out[f"dist_{g}"] = self.dist_sum[g] / n if n else float("nan")
            out[f"dist_{g}_frames"] = n
            out[f"pck_{g}"] = self.hits[g] / self.total[g] if self.total[g] else float("nan")
        out["raised_wrist_events"] = self.raised
        out["raised_wrist_kept"] = self.raised_kept / self.raised if self.raised else float("nan")
        for k in LIMB_KINDS:
            n = self.limb_events[k]
            out[f"limb_drawn_{k}_events"] = n
            out[f"limb_drawn_{k}"] = self.limb_drawn[k] / n if n else float("nan")
            f = self.end_found[k]
            out[f"limb_end_dist_{k}"] = self.end_dist[k] / f if f else float("nan")
        n = self.raised_events
        out["limb_drawn_raised_wrist_events"] = n
        out["limb_drawn_raised_wrist"] = self.raised_drawn / n if n else float("nan")
        return out
