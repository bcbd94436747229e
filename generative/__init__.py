"""rlgen.generative: GANs, conditional GANs and VAEs built on the core's Trainer."""
