"""Evaluation: keypoint accuracy, image metrics and the paper's protocol."""
