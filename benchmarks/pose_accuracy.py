"""Accuracy of the pose stage on real images with ground truth (see dancenow.evaluation.pose_accuracy).

python benchmarks/pose_accuracy.py [--data ../shared/data] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dancenow.evaluation.pose_accuracy import evaluate_pose_accuracy

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = evaluate_pose_accuracy(args.data)
    for r in result["per_image"]:
        print(
            f"{r['set']:5s} {r['image']:40s} joints {r['joints']:2d}  PCK@0.2 torso {r['pck_torso']:.3f}"
            f"  bbox {r['pck_bbox']:.3f}  median err/torso {r['median_error_over_torso']:.3f}"
        )
    print(f"PCK@0.2 (torso) over {result['joints']} joints: {result['pck_torso@0.2']:.3f}")
    print(f"PCK@0.2 (bbox)  over {result['joints']} joints: {result['pck_bbox@0.2']:.3f}")
    agreement = result["openpose_median_distance_over_height"]
    print(f"median distance to OpenPose BODY_25 / body height: {agreement:.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
