"""Four-stage ResNets with ImageNet widths on CIFAR inputs (ResNet18, ResNet50)."""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Type, Union

from torch import Tensor, nn

from ._layers import Add, check_sizes, reset_tree
from .tap_points import TapPoints


def _reset(module: nn.Module) -> None:
    reset_tree(module, he_conv=True, linear="default")


def _projection(in_planes: int, out_planes: int, stride: int) -> Optional[nn.Sequential]:
    if stride == 1 and in_planes == out_planes:
        return None
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


class BasicBlock(nn.Module):
    r"""Two 3x3 convolutions with a residual connection (He et al., CVPR 2016).

    .. math::

        y = \mathrm{ReLU}\big(\mathrm{BN}(W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * x)))
            + P(x)\big)

    :math:`P` is the identity or, when the stride or width changes, a 1x1 convolution +
    batch norm (the ``shortcut`` branch).

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
    >>> BasicBlock(64, 128, stride=2)(torch.randn(2, 64, 8, 8)).shape
    torch.Size([2, 128, 4, 4])
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _projection(in_planes, planes, stride)
        self.merge = Add()
        self.relu2 = nn.ReLU()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms."""
        _reset(self)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return self.relu2(self.merge(out, shortcut))


class Bottleneck(nn.Module):
    r"""1x1 reduce, 3x3, 1x1 expand (x4) with a residual connection (He et al., CVPR 2016).

    .. math::

        y = \mathrm{ReLU}\big(\mathrm{BN}(W_3 * \mathrm{ReLU}(\mathrm{BN}(W_2 *
            \mathrm{ReLU}(\mathrm{BN}(W_1 * x))))) + P(x)\big)

    The stride sits on the 3x3 convolution; :math:`P` is as in :class:`BasicBlock`.

    Parameters
    ----------
    in_planes : int
        Input channels.
    planes : int
        Bottleneck width; the block outputs ``4 * planes`` channels.
    stride : int, default 1
        Stride of the 3x3 convolution and of the projection.

    Example
    -------
    >>> import torch
    >>> Bottleneck(64, 64)(torch.randn(2, 64, 8, 8)).shape
    torch.Size([2, 256, 8, 8])
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = self.expansion * planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = _projection(in_planes, out_planes, stride)
        self.merge = Add()
        self.relu3 = nn.ReLU()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms."""
        _reset(self)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return self.relu3(self.merge(out, shortcut))


_Block = Union[Type[BasicBlock], Type[Bottleneck]]

#: depth -> (block type, blocks per stage)
DEPTHS: Dict[int, Tuple[_Block, Tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ImageNetStyleResNet(nn.Module):
    r"""ResNet-18/34/50/101/152 (He et al., CVPR 2016) adapted to 32x32 inputs.

    The ImageNet stage layout and widths (64, 128, 256, 512, times 4 for bottlenecks)
    with a CIFAR stem: one 3x3 stride-1 convolution and no max pooling. Stages run at
    strides 1, 2, 2, 2, then global average pooling and a linear classifier named
    ``linear``, as in the community CIFAR zoo ("ResNet18", "ResNet50").

    .. math::

        z = W\, \mathrm{GAP}(\mathrm{stage}_4 \circ \cdots \circ \mathrm{stage}_1 \circ
            \mathrm{ReLU} \circ \mathrm{BN} \circ \mathrm{conv}_{3\times3}(x)) + b

    Input adaptation: the stem takes ``in_channels``; the pooling is adaptive (as in the
    community code), so 28x28 inputs work unchanged.

    Parameters
    ----------
    depth : int, default 18
        One of 18, 34, 50, 101, 152.
    num_classes : int, default 100
        Size of the logits.
    in_channels : int, default 3
        Channels of the input images.
    input_size : int, default 32
        Side of the square input images; at least 8 (the network downsamples by 8).

    Example
    -------
    >>> import torch
    >>> net = ImageNetStyleResNet(18, num_classes=10).eval()
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int = 18,
        num_classes: int = 100,
        in_channels: int = 3,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(
                f"ImageNetStyleResNet depth must be one of {sorted(DEPTHS)}, got {depth}"
            )
        check_sizes("ImageNetStyleResNet", num_classes, in_channels, input_size, 8)
        block, counts = DEPTHS[depth]
        self.depth = depth
        self.blocks_per_stage = counts
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_size = input_size

        self.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        planes_in = 64
        stages = []
        for planes, count, stride in zip((64, 128, 256, 512), counts, (1, 2, 2, 2)):
            blocks = []
            for i in range(count):
                blocks.append(block(planes_in, planes, stride if i == 0 else 1))
                planes_in = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(planes_in, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms, PyTorch-default classifier."""
        _reset(self)

    def default_taps(self) -> TapPoints:
        """Stage outputs ``layer1..4``; pre-activations are the last blocks' ``merge``."""
        return TapPoints(
            embedding="avgpool",
            features=("layer1", "layer2", "layer3", "layer4"),
            preact_features=tuple(
                f"layer{i + 1}.{count - 1}.merge" for i, count in enumerate(self.blocks_per_stage)
            ),
            feature_map="layer4",
            classifier="linear",
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(self.avgpool(out).flatten(1))
