"""Inference: load a trained run, generate frames with temporal feedback, transfer a dance."""
