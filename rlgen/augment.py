"""Image augmentation on batches: small random shifts and rotations (and optional flips)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator,
    max_shift: float = 0.1,
    max_degrees: float = 10.0,
    hflip: bool = False,
) -> torch.Tensor:
    """Shift by up to `max_shift` of the image size and rotate by up to `max_degrees`.

    Random draws come from `generator` (CPU) so augmentation is part of a run's
    checkpointed randomness. Empty borders are filled with 0 (background).
    """
    n = images.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_degrees)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift * 2  # grid spans [-1, 1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    if hflip:
        flip = (torch.rand(n, generator=generator) < 0.5).float() * -2 + 1
        theta[:, 0, 0] *= flip
        theta[:, 1, 0] *= flip
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
