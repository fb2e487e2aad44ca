"""MobileNetV2 (Sandler et al., CVPR 2018) in the half-width CIFAR variant."""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from ._layers import Add, GlobalAvgPool2d, check_sizes, reset_tree
from .tap_points import TapPoints

#: (expansion, width, repeats, stride) of the seven stages; None: the model's ``expansion``
_STAGES = (
    (1, 16, 1, 1),
    (None, 24, 2, 1),
    (None, 32, 3, 2),
    (None, 64, 4, 2),
    (None, 96, 3, 1),
    (None, 160, 3, 2),
    (None, 320, 1, 1),
)


def _reset(module: nn.Module) -> None:
    reset_tree(module, he_conv=True, linear="small_normal")


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class InvertedResidual(nn.Module):
    r"""Inverted residual with linear bottleneck (Sandler et al., CVPR 2018).

    .. math::

        y = [x +]\ \mathrm{BN}(W_{pw2} * \mathrm{ReLU}(\mathrm{BN}(W_{dw} *
            \mathrm{ReLU}(\mathrm{BN}(W_{pw1} * x)))))

    A 1x1 expansion to ``t * in`` channels, a 3x3 depthwise convolution carrying the
    stride, and a linear 1x1 projection, all in ``self.conv`` (indices 0-7); the input is
    added back when the stride is 1 and the width is unchanged. ReLU, not ReLU6, as in the
    community CIFAR code.

    Parameters
    ----------
    in_planes : int
        Input channels.
    out_planes : int
        Output channels.
    stride : int
        1 or 2.
    expand_ratio : int
        Expansion factor ``t``.

    Example
    -------
    >>> import torch
    >>> InvertedResidual(16, 16, 1, 6)(torch.randn(2, 16, 8, 8)).shape
    torch.Size([2, 16, 8, 8])
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_planes * expand_ratio
        self.conv = nn.Sequential(
            nn.Conv2d(in_planes, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, out_planes, 1, bias=False),
            nn.BatchNorm2d(out_planes),
        )
        self.merge: Optional[Add] = Add() if stride == 1 and in_planes == out_planes else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms."""
        _reset(self)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return out if self.merge is None else self.merge(out, x)


class MobileNetV2(nn.Module):
    r"""MobileNetV2 (Sandler et al., CVPR 2018) for 32x32 inputs; half width by default.

    A 3x3 stride-2 stem, seven stages of :class:`InvertedResidual` (widths 16, 24, 32,
    64, 96, 160, 320 times ``width_mult``; expansion 1 in the first stage, ``expansion``
    elsewhere; strides 1, 1, 2, 2, 1, 2, 1), a 1x1 convolution to 1280 channels, global
    average pooling and a linear classifier (``classifier.0``). The defaults give the
    "MobileNetV2" of the community CIFAR knowledge-distillation zoo (``width_mult=0.5``,
    ``expansion=6``).

    .. math::

        z = W\, \mathrm{GAP}(\mathrm{ReLU}(\mathrm{BN}(W_{1\times1} *
            \mathrm{stage}_7 \circ \cdots \circ \mathrm{stage}_1 \circ \mathrm{stem}(x))))
            + b

    Input adaptation: the stem takes ``in_channels``; the pooling averages the whole last
    map (bit-identical to the community ``AvgPool2d(input_size // 16)`` on 32x32 inputs),
    so 28x28 inputs work unchanged.

    Taps: the stage outputs are linear bottlenecks (no activation), so ``features`` and
    ``preact_features`` both name the last block of each resolution (``blocks.1``,
    ``blocks.2``, ``blocks.4``, ``blocks.6``).

    Parameters
    ----------
    width_mult : float, default 0.5
        Width multiplier of the stem and the stages; the head stays 1280 wide unless
        ``width_mult > 1``.
    expansion : int, default 6
        Expansion factor ``t`` of stages 2-7.
    num_classes : int, default 100
        Size of the logits.
    in_channels : int, default 3
        Channels of the input images.
    input_size : int, default 32
        Side of the square input images; at least 16 (the network downsamples by 16).

    Example
    -------
    >>> import torch
    >>> net = MobileNetV2(num_classes=10).eval()
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        width_mult: float = 0.5,
        expansion: int = 6,
        num_classes: int = 100,
        in_channels: int = 3,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        check_sizes("MobileNetV2", num_classes, in_channels, input_size, 16)
        self.width_mult = width_mult
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_size = input_size

        planes = int(32 * width_mult)
        self.conv1 = _conv_bn_relu(in_channels, planes, 3, 2)
        self.blocks = nn.ModuleList()
        for t, width, repeats, stride in _STAGES:
            out_planes = int(width * width_mult)
            stage = []
            for i in range(repeats):
                stage.append(
                    InvertedResidual(
                        planes, out_planes, stride if i == 0 else 1, expansion if t is None else t
                    )
                )
                planes = out_planes
            self.blocks.append(nn.Sequential(*stage))
        last = int(1280 * width_mult) if width_mult > 1.0 else 1280
        self.conv2 = _conv_bn_relu(planes, last, 1, 1)
        self.avgpool = GlobalAvgPool2d()
        self.classifier = nn.Sequential(nn.Linear(last, num_classes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms, N(0, 0.01^2) classifier
        with zero bias."""
        _reset(self)

    def default_taps(self) -> TapPoints:
        """Last block of each resolution (linear bottlenecks: features = preact)."""
        stages = ("blocks.1", "blocks.2", "blocks.4", "blocks.6")
        return TapPoints(
            embedding="avgpool",
            features=stages,
            preact_features=stages,
            feature_map="conv2",
            classifier="classifier.0",
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        for stage in self.blocks:
            out = stage(out)
        out = self.conv2(out)
        return self.classifier(self.avgpool(out).flatten(1))
