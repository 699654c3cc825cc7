"""Training: configuration, the explicit GAN training loop, checkpoints, distributed helpers."""
