"""Networks: pix2pixHD generators (global, local enhancer), PatchGAN discriminators, the face GAN."""
