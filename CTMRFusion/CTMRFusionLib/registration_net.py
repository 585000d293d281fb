"""The deep registration network (torch; issue 5 groundwork): CT and moved MR in, Euler3D parameters out.

Input: (N, 2, D, H, W) — CT and MR on a common low-resolution grid, each normalised to about [0, 1].
Output: (N, 6) — angles (rad, LPS x/y/z, within ±``max_angle``) and translation (mm, LPS, within
±``max_translation``) of the transform P that maps grid points to MR points, about the grid centre; it is
what :func:`intra_modality_loss.intra_modality_loss` scores. The last layer starts at zero, so an untrained
network predicts the identity.

Architecture: four stride-2 blocks (3×3×3 convolution, instance normalisation, leaky ReLU) with
``width × (1, 2, 4, 8)`` channels, global average pooling, a linear layer to 6 values, tanh scaling.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class RegistrationNet(nn.Module):
    def __init__(self, width: int = 8, max_angle: float = math.radians(60.0), max_translation: float = 60.0):
        super().__init__()
        channels = [2, width, width * 2, width * 4, width * 8]
        blocks = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            blocks += [nn.Conv3d(c_in, c_out, 3, stride=2, padding=1), nn.InstanceNorm3d(c_out, affine=True),
                       nn.LeakyReLU(0.1, inplace=True)]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(channels[-1], 6)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("scale", torch.tensor([max_angle] * 3 + [max_translation] * 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3, 4))
        return torch.tanh(self.head(pooled)) * self.scale
