"""Accuracy of the MediaPipe backend against ground truth and against OpenPose.

- PCK@0.2 of the body joints with a BODY_25 counterpart on the COCO skier (human labels,
  COCO-17) and the four Human3.6M frames (motion capture, H36M-17), with two thresholds:
  0.2 × the torso diagonal (strict; it shrinks when the torso is foreshortened) and
  0.2 × the larger side of the ground-truth box.
- Median distance between our body keypoints and OpenPose's on five 1080p frames, over
  joints both report, as a fraction of the OpenPose body height.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from dancenow.evaluation.keypoints import body_height, pck, shared_joint_distances, torso_size
from dancenow.pose.layout import COCO17_TO_BODY25, H36M17_TO_BODY25
from dancenow.pose.mediapipe_backend import HolisticDetector
from dancenow.pose.openpose_json import parse_openpose_frame


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _to_body25(keypoints: list[float], mapping: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth joints in another skeleton -> (25, 2) points and (25,) visibility in BODY_25 order."""
    kp = np.asarray(keypoints, np.float64).reshape(-1, 3)
    points, visible = np.zeros((25, 2)), np.zeros(25, bool)
    for src, dst in enumerate(mapping):
        if dst >= 0 and kp[src, 2] > 0:
            points[dst], visible[dst] = kp[src, :2], True
    return points, visible


def _score(detector, image_path: Path, gt_points, gt_visible, bbox) -> dict:
    kp = detector(_read_rgb(image_path))[:25]
    torso = torso_size(gt_points, gt_visible)
    hits_t, total = pck(kp, gt_points, gt_visible, 0.2 * torso)
    hits_b, _ = pck(kp, gt_points, gt_visible, 0.2 * max(bbox[2], bbox[3]))
    err = np.linalg.norm(kp[:, :2] - gt_points, axis=1)[gt_visible & (kp[:, 2] > 0)]
    return {
        "image": image_path.name,
        "joints": total,
        "pck_torso": hits_t / total,
        "pck_bbox": hits_b / total,
        "hits_torso": hits_t,
        "hits_bbox": hits_b,
        "median_error_over_torso": float(np.median(err) / torso) if len(err) else float("nan"),
    }


def evaluate_pose_accuracy(data: Path) -> dict:
    """All the figures above on the shared data folder ``data`` (``../shared/data``)."""
    detector = HolisticDetector(static=True)
    rows = []
    coco = json.loads((data / "images/coco/test_coco.json").read_text())
    skier = next(i for i in coco["images"] if i["file_name"] == "000000000785.jpg")
    for ann in (a for a in coco["annotations"] if a["image_id"] == skier["id"]):
        pts, vis = _to_body25(ann["keypoints"], COCO17_TO_BODY25)
        rows.append(
            {
                "set": "coco",
                **_score(detector, data / "images/coco" / skier["file_name"], pts, vis, ann["bbox"]),
            }
        )
    h36m = json.loads((data / "images/h36m/h36m_coco.json").read_text())
    files = {p.name: p for p in (data / "images/h36m").rglob("*.jpg")}
    for image in h36m["images"]:
        for ann in (a for a in h36m["annotations"] if a["image_id"] == image["id"]):
            pts, vis = _to_body25(ann["keypoints"], H36M17_TO_BODY25)
            rows.append({"set": "h36m", **_score(detector, files[image["file_name"]], pts, vis, ann["bbox"])})

    # Agreement with OpenPose BODY_25 on five consecutive 1080p frames.
    agreement, fractions = [], []
    for json_path in sorted((data / "images/openpose_frames").glob("*.json")):
        ours = detector(_read_rgb(json_path.with_suffix(".jpg")))
        theirs = parse_openpose_frame(json.loads(json_path.read_text()), source=json_path)[0]
        d, height = shared_joint_distances(ours, theirs), body_height(theirs)
        fractions.append(d / height)
        agreement.append(
            {
                "image": json_path.stem,
                "joints": len(d),
                "median_px": float(np.median(d)),
                "body_height_px": height,
            }
        )
    all_d = np.concatenate(fractions)
    detector.close()
    hits_t = sum(r["hits_torso"] for r in rows)
    hits_b = sum(r["hits_bbox"] for r in rows)
    total = sum(r["joints"] for r in rows)
    return {
        "pck_torso@0.2": hits_t / total,
        "pck_bbox@0.2": hits_b / total,
        "joints": total,
        "per_image": rows,
        "openpose_median_distance_over_height": float(np.median(all_d)),
        "openpose_frames": agreement,
    }
