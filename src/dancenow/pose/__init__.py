"""Pose stage: detection backends, keypoint layout, clean-up, pose files and rendering."""
