"""SegNet-lite: a small encoder-decoder CNN for 160×120 semantic segmentation on one CPU core.

Shape of the network (Fast-SCNN-like, depthwise-separable convolutions everywhere it is cheap):

    image (N,H,W,3) uint8 ──► normalise (inside the graph) ──► stem 3×3/2 ─► ds/2 ─► ds/2 ─► context (dilated)
          │                                                     1/2            1/4     1/8
          └──► full-resolution detail branch (3×3, 8 ch) ───────────────────────────────┐
    decoder: up×2 + skip(1/4) ─► up×2 + skip(1/2) ─► up×2 + detail(1/1) ─► 1×1 classifier

The full-resolution branch exists because lane markings and distant traffic-light heads are only a
few pixels wide at 160×120; a decoder that stops at 1/2 resolution blurs them away.

Export contract (``ExportWrapper``): the ONNX graph takes ``image`` as NHWC **uint8** (the camera
image exactly as the sim or a ROS Image message delivers it) and returns ``classes`` (N,H,W) uint8
argmax and ``confidence`` (N,H,W) float32 max-softmax, so the runtime does no pre- or
post-processing at all, plus ``logits`` (N,C,H,W) float32 for tests and calibration.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from perception.classes import NUM_CLASSES

# Per-channel statistics used to normalise the image inside the graph. Fixed constants rather than
# dataset statistics so the exported graph does not depend on which shard was seen first.
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.25, 0.25, 0.25)


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DepthwiseSeparable(nn.Module):
    """3×3 depthwise + 1×1 pointwise, each followed by BN+ReLU; ~8× fewer MACs than a full 3×3."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv2d(
                cin, cin, 3, stride=stride, padding=dilation, dilation=dilation, groups=cin, bias=False
            ),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
        )
        self.pointwise = nn.Sequential(
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pointwise(self.depthwise(x))
        return x + y if self.residual else y


class SegNetLite(nn.Module):
    """Takes normalised NCHW float32, returns NCHW logits at the input resolution."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 16, refine: int = 0) -> None:
        super().__init__()
        if width < 1 or refine < 0:
            raise ValueError(f"need width >= 1 and refine >= 0, got width={width}, refine={refine}")
        w = width
        self.detail = conv_bn_relu(3, 8)  # 1/1
        self.stem = conv_bn_relu(3, w, stride=2)  # 1/2
        self.down1 = nn.Sequential(
            DepthwiseSeparable(w, 2 * w, stride=2), DepthwiseSeparable(2 * w, 2 * w)
        )  # 1/4
        self.down2 = nn.Sequential(
            DepthwiseSeparable(2 * w, 4 * w, stride=2), DepthwiseSeparable(4 * w, 4 * w)
        )  # 1/8
        # Dilated blocks widen the receptive field (is this grey blob road or a car roof?) without
        # further downsampling, which the 15×20 bottleneck could not afford.
        self.context = nn.Sequential(
            DepthwiseSeparable(4 * w, 4 * w, dilation=2),
            DepthwiseSeparable(4 * w, 4 * w, dilation=4),
        )
        self.up1 = DepthwiseSeparable(4 * w + 2 * w, 2 * w)  # 1/4
        self.up2 = DepthwiseSeparable(2 * w + w, w)  # 1/2
        self.up3 = DepthwiseSeparable(w + 8, w)  # 1/1
        self.classifier = nn.Conv2d(w, num_classes, 1)
        # Optional full-resolution refinement: a second look at the decoder features next to the
        # detail features, added to the logits. Its last layer starts at zero, so a trained network
        # gains it without changing its output (fine-tuning with --init from a refine=0 model).
        self.refine = None
        if refine > 0:
            self.refine = nn.Sequential(DepthwiseSeparable(w + 8, refine), nn.Conv2d(refine, num_classes, 1))
            nn.init.zeros_(self.refine[-1].weight)
            nn.init.zeros_(self.refine[-1].bias)

    @staticmethod
    def _up_cat(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([x, skip], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.detail(x)
        s1 = self.stem(x)
        s2 = self.down1(s1)
        s3 = self.context(self.down2(s2))
        y = self.up1(self._up_cat(s3, s2))
        y = self.up2(self._up_cat(y, s1))
        y = self.up3(self._up_cat(y, d))
        logits = self.classifier(y)
        if self.refine is not None:
            logits = logits + self.refine(torch.cat([y, d], dim=1))
        return logits


def normalise_nhwc_uint8(image: torch.Tensor) -> torch.Tensor:
    """(N,H,W,3) uint8 → (N,3,H,W) float32 normalised; the same code runs in training and in ONNX."""
    x = image.permute(0, 3, 1, 2).to(torch.float32) * (1.0 / 255.0)
    mean = torch.tensor(IMAGE_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean) / std


class ExportWrapper(nn.Module):
    """The deployed graph: uint8 NHWC image in; classes, confidence and logits out."""

    def __init__(self, net: SegNetLite) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = self.net(normalise_nhwc_uint8(image))
        # max softmax = 1 / Σ exp(l - max l): avoids materialising the full probability tensor, which
        # ORT's channel-axis Softmax on NCHW made cost more than the whole network.
        top, classes = logits.max(dim=1, keepdim=True)
        confidence = 1.0 / torch.exp(logits - top).sum(dim=1)
        return classes[:, 0].to(torch.uint8), confidence, logits


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
