"""Accuracy of the MediaPipe backend against ground truth and against OpenPose.

    python benchmarks/pose_accuracy.py [--data ../shared/data] [--json OUT.json]

- PCK@0.2 (threshold 0.2 × torso diagonal, and 0.2 × the larger bounding-box side) of the
  body joints with a BODY_25 counterpart, on the COCO skier (human labels, COCO-17) and the
  four Human3.6M frames (motion capture, H36M-17).
- Median distance between our body keypoints and OpenPose's on ``images/openpose_frames``,
  over joints both report, as a fraction of the OpenPose body height.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from dancenow.evaluation.keypoints import body_height, pck, shared_joint_distances, torso_size  # noqa: E402
from dancenow.pose.layout import COCO17_TO_BODY25, H36M17_TO_BODY25  # noqa: E402
from dancenow.pose.mediapipe_backend import HolisticDetector  # noqa: E402


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


def evaluate(data: Path) -> dict:
    detector = HolisticDetector(static=True)
    rows = []
    coco = json.loads((data / "images/coco/test_coco.json").read_text())
    skier = next(i for i in coco["images"] if i["file_name"] == "000000000785.jpg")
    for ann in (a for a in coco["annotations"] if a["image_id"] == skier["id"]):
        pts, vis = _to_body25(ann["keypoints"], COCO17_TO_BODY25)
        rows.append({"set": "coco", **_score(detector, data / "images/coco" / skier["file_name"], pts, vis, ann["bbox"])})
    h36m = json.loads((data / "images/h36m/h36m_coco.json").read_text())
    files = {p.name: p for p in (data / "images/h36m").rglob("*.jpg")}
    for image in h36m["images"]:
        for ann in (a for a in h36m["annotations"] if a["image_id"] == image["id"]):
            pts, vis = _to_body25(ann["keypoints"], H36M17_TO_BODY25)
            rows.append({"set": "h36m", **_score(detector, files[image["file_name"]], pts, vis, ann["bbox"])})

    # Agreement with OpenPose BODY_25 on five consecutive 1080p frames.
    from dancenow.pose.openpose_json import parse_openpose_frame

    agreement, fractions = [], []
    for json_path in sorted((data / "images/openpose_frames").glob("*.json")):
        ours = detector(_read_rgb(json_path.with_suffix(".jpg")))
        theirs = parse_openpose_frame(json.loads(json_path.read_text()), source=json_path)[0]
        d, height = shared_joint_distances(ours, theirs), body_height(theirs)
        fractions.append(d / height)
        agreement.append({"image": json_path.stem, "joints": len(d), "median_px": float(np.median(d)),
                          "body_height_px": height})
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = evaluate(args.data)
    for r in result["per_image"]:
        print(f"{r['set']:5s} {r['image']:40s} joints {r['joints']:2d}  PCK@0.2 torso {r['pck_torso']:.3f}"
              f"  bbox {r['pck_bbox']:.3f}  median err/torso {r['median_error_over_torso']:.3f}")
    print(f"PCK@0.2 (torso) over {result['joints']} joints: {result['pck_torso@0.2']:.3f}")
    print(f"PCK@0.2 (bbox)  over {result['joints']} joints: {result['pck_bbox@0.2']:.3f}")
    print(f"median distance to OpenPose BODY_25 / body height: {result['openpose_median_distance_over_height']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
