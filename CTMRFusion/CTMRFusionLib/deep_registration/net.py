"""The deep registration network (torch): CT and MR on the network grid in, Euler3D parameters out.

Input: (N, C, D, H, W) — the CT's feature channels then the MR's (C = 2 × number of features) on the grid of
:mod:`network_grid` (40³ × 8 mm by default), each on about [0, 1]. Output: (N, 6) — angles (rad, about LPS x, y, z, ITK
Z-X-Y order, within ±``max_angle``) and translation (mm, LPS, within ±``max_translation``) of the transform P
that maps grid (CT) points to MR points, rotating about the grid centre; see
:mod:`intra_modality_loss` for how it is scored. The last layer starts at zero, so an untrained network
predicts the identity.

Architecture: five stride-2 blocks (3×3×3 convolution, instance normalisation, leaky ReLU) with
``width × (1, 2, 4, 8, 16)`` channels take 40³ to 2³; the 2³ feature map is flattened (keeping where things
are, which a translation estimate needs) into a 128-unit layer and a linear layer to the 6 values, scaled
by tanh.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class RegistrationNet(nn.Module):
    def __init__(
        self,
        in_channels: int = 2,
        width: int = 8,
        grid_size: int = 40,
        max_angle: float = math.radians(90.0),
        max_translation: float = 100.0,
    ):
        super().__init__()
        channels = [in_channels] + [width * m for m in (1, 2, 4, 8, 16)]
        blocks = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            blocks += [
                nn.Conv3d(c_in, c_out, 3, stride=2, padding=1),
                nn.InstanceNorm3d(c_out, affine=True),
                nn.LeakyReLU(0.1, inplace=True),
            ]
        self.features = nn.Sequential(*blocks)
        side = grid_size
        for _ in range(5):
            side = (side + 1) // 2  # stride 2, padding 1
        cells = side**3
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(channels[-1] * cells, 128), nn.LeakyReLU(0.1, inplace=True))
        self.head = nn.Linear(128, 6)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("scale", torch.tensor([max_angle] * 3 + [max_translation] * 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.hidden(self.features(x)))) * self.scale
