"""Losses: adversarial (LSGAN), discriminator feature matching, perceptual."""
