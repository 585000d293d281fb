"""The fusion U-Net (needs torch): CT and MR slices in as 2 channels, the fused slice out.

Architecture (the seed's design): 5 encoder blocks — each two 3×3 convolutions + ReLU, the last four after a
2× max-pooling — and 4 decoder blocks, each a bilinear 2× upsampling, concatenation with the skip connection
of the same resolution, and two 3×3 convolutions + ReLU; a 1×1 convolution and a sigmoid give one channel in
[0, 1]. Channel widths are ``width × (1, 2, 4, 8, 8)``. Inputs of any size are padded (reflect) to a multiple
of 16 and the output is cropped back. With ``flip_average`` the network runs on the slice and on its three
mirror images (left–right, up–down, both) and returns the mean of the four outputs, each mirrored back (test-time
flip averaging: the same weights, 4× the inference time; training runs it without).

Input and output scale: intensities in [0, 1] (8-bit grey level / 255; see :mod:`fusion_normalization`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.conv = DoubleConv(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([skip, x], dim=1))


class FusionUNet(nn.Module):
    """U-Net fusing a (N, 2, H, W) CT/MR batch in [0, 1] into (N, 1, H, W) in [0, 1]."""

    def __init__(self, width: int = 16, flip_average: bool = False):
        super().__init__()
        self.flip_average = flip_average
        c = [width, width * 2, width * 4, width * 8, width * 8]
        self.width = width
        self.down = nn.ModuleList([DoubleConv(2, c[0])] + [DoubleConv(c[i - 1], c[i]) for i in range(1, 5)])
        self.up = nn.ModuleList(
            [
                Up(c[4], c[3], c[3] // 2),
                Up(c[3] // 2, c[2], c[2] // 2),
                Up(c[2] // 2, c[1], c[1] // 2),
                Up(c[1] // 2, c[0], c[0]),
            ]
        )
        self.head = nn.Conv2d(c[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.flip_average:
            return self.fuse_once(x)
        fused = self.fuse_once(x)
        for dims in ([3], [2], [2, 3]):
            fused = fused + torch.flip(self.fuse_once(torch.flip(x, dims)), dims)
        return fused / 4.0

    def fuse_once(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2], x.shape[-1]
        pad_h, pad_w = (16 - height % 16) % 16, (16 - width % 16) % 16
        mode = "reflect" if height > pad_h and width > pad_w else "replicate"
        x = F.pad(x, [0, pad_w, 0, pad_h], mode=mode)
        # Unrolled (rather than looped over the ModuleLists) so that TorchScript can compile it.
        e1 = self.down[0](x)
        e2 = self.down[1](F.max_pool2d(e1, 2))
        e3 = self.down[2](F.max_pool2d(e2, 2))
        e4 = self.down[3](F.max_pool2d(e3, 2))
        e5 = self.down[4](F.max_pool2d(e4, 2))
        x = self.up[0](e5, e4)
        x = self.up[1](x, e3)
        x = self.up[2](x, e2)
        x = self.up[3](x, e1)
        x = torch.sigmoid(self.head(x))
        return x[..., :height, :width]
