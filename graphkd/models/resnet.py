"""CIFAR ResNets (He et al., CVPR 2016): resnet8 ... resnet110, resnet8x4, resnet32x4."""

from __future__ import annotations

from typing import Optional, Sequence

from torch import Tensor, nn

from ._layers import Add, GlobalAvgPool2d, check_sizes, reset_tree
from .tap_points import TapPoints


def _reset(module: nn.Module) -> None:
    reset_tree(module, he_conv=True, linear="default")


class BasicBlock(nn.Module):
    r"""Two 3x3 convolutions with a residual connection (He et al., CVPR 2016).

    .. math::

        y = \mathrm{ReLU}\big(\mathrm{BN}(W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * x)))
            + P(x)\big)

    :math:`P` is the identity, or a strided 1x1 convolution followed by batch norm (the
    ``downsample`` branch) when the stride or the channel count changes.

    Parameters
    ----------
    in_planes : int
        Input channels.
    planes : int
        Output channels.
    stride : int, default 1
        Stride of the first convolution and of the projection.

    Example
    -------
    >>> import torch
    >>> BasicBlock(16, 32, stride=2)(torch.randn(2, 16, 8, 8)).shape
    torch.Size([2, 32, 4, 4])
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: Optional[nn.Sequential] = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        self.merge = Add()
        self.relu2 = nn.ReLU()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms."""
        _reset(self)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu2(self.merge(out, shortcut))


class CifarResNet(nn.Module):
    r"""The CIFAR ResNet of He et al. (CVPR 2016) with projection shortcuts, depth 6n+2.

    A 3x3 stem, three stages of ``n = (depth - 2) / 6`` :class:`BasicBlock` at strides
    1, 2, 2, global average pooling and a linear classifier. Where the stride or width
    changes, the shortcut is a 1x1 convolution + batch norm, as in the community CIFAR
    knowledge-distillation zoo, so its ``{"model": state_dict}`` checkpoints load with
    ``strict=True`` and compute the same logits.

    .. math::

        z = W_{fc}\, \mathrm{GAP}(\mathrm{stage}_3 \circ \mathrm{stage}_2 \circ
            \mathrm{stage}_1 \circ \mathrm{ReLU} \circ \mathrm{BN} \circ \mathrm{conv}(x))
            + b_{fc}

    Input adaptation: the stem convolution takes ``in_channels``; the pooling averages
    the whole last map (bit-identical to the community ``AvgPool2d(8)`` on 32x32 inputs),
    so 28x28 inputs give 7x7 maps and the same classifier.

    Parameters
    ----------
    depth : int
        6n+2: 8, 14, 20, 32, 44, 56, 110.
    widths : sequence of 4 int, default (16, 16, 32, 64)
        Stem width and the widths of the three stages ((32, 64, 128, 256) for the "x4"
        models).
    num_classes : int, default 100
        Size of the logits.
    in_channels : int, default 3
        Channels of the input images (1 for Fashion-MNIST).
    input_size : int, default 32
        Side of the square input images; must be at least 4 (the network downsamples by 4).

    Example
    -------
    >>> import torch
    >>> net = CifarResNet(8, widths=(16, 16, 32, 64), num_classes=10).eval()
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int,
        widths: Sequence[int] = (16, 16, 32, 64),
        num_classes: int = 100,
        in_channels: int = 3,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"CifarResNet depth must be 6n+2 (8, 14, 20, ...), got {depth}")
        if len(widths) != 4:
            raise ValueError(
                f"widths needs 4 entries (stem, stage1, stage2, stage3), got {tuple(widths)}"
            )
        check_sizes("CifarResNet", num_classes, in_channels, input_size, 4)
        self.depth = depth
        self.blocks_per_stage = (depth - 2) // 6
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_size = input_size

        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        self.layer1 = self._stage(widths[0], widths[1], stride=1)
        self.layer2 = self._stage(widths[1], widths[2], stride=2)
        self.layer3 = self._stage(widths[2], widths[3], stride=2)
        self.avgpool = GlobalAvgPool2d()
        self.fc = nn.Linear(widths[3], num_classes)
        self.reset_parameters()

    def _stage(self, in_planes: int, planes: int, stride: int) -> nn.Sequential:
        blocks = [BasicBlock(in_planes, planes, stride)]
        blocks += [BasicBlock(planes, planes) for _ in range(self.blocks_per_stage - 1)]
        return nn.Sequential(*blocks)

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms, PyTorch-default classifier."""
        _reset(self)

    def default_taps(self) -> TapPoints:
        """Stage outputs ``layer1..3``; pre-activations are the last blocks' ``merge``."""
        last = self.blocks_per_stage - 1
        return TapPoints(
            embedding="avgpool",
            features=("layer1", "layer2", "layer3"),
            preact_features=tuple(f"layer{i}.{last}.merge" for i in (1, 2, 3)),
            feature_map="layer3",
            classifier="fc",
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(self.avgpool(out).flatten(1))
