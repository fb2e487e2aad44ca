"""ShuffleNet V2 (Ma et al., ECCV 2018) in the CIFAR layout: ShuffleV2."""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import Tensor, nn

from ._layers import ChannelShuffle, GlobalAvgPool2d, check_sizes, reset_tree
from .tap_points import TapPoints


def _reset(module: nn.Module) -> None:
    reset_tree(module, he_conv=False, linear="default")


class ShuffleV2Unit(nn.Module):
    r"""Stride-1 ShuffleNet V2 unit (Ma et al., ECCV 2018): channel split, one branch.

    .. math::

        [x_1, x_2] = \mathrm{split}(x), \qquad
        y = \mathrm{ReLU}\big(\mathrm{shuffle}_2([x_1,\ \mathrm{BN}(W_3 * \mathrm{BN}(
            W_{dw} * \mathrm{ReLU}(\mathrm{BN}(W_1 * x_2))))])\big)

    The community code applies the ReLU to the branch before concatenating and
    shuffling. Inside the network the unit's input is a ReLU output, so :math:`x_1 \ge 0`
    and applying the ReLU after the shuffle gives the identical tensor; ``shuffle``'s
    output is then the unit's pre-activation.

    Parameters
    ----------
    channels : int
        Input and output channels (even).

    Example
    -------
    >>> import torch
    >>> ShuffleV2Unit(116)(torch.rand(2, 116, 8, 8)).shape
    torch.Size([2, 116, 8, 8])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.split_at = half
        self.conv1 = nn.Conv2d(half, half, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, half, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(half)
        self.shuffle = ChannelShuffle(2)
        self.relu3 = nn.ReLU()

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation."""
        _reset(self)

    def forward(self, x: Tensor) -> Tensor:
        kept, branch = x[:, : self.split_at], x[:, self.split_at :]
        out = self.relu1(self.bn1(self.conv1(branch)))
        out = self.bn3(self.conv3(self.bn2(self.conv2(out))))
        return self.relu3(self.shuffle(torch.cat([kept, out], dim=1)))


class ShuffleV2DownUnit(nn.Module):
    r"""Stride-2 ShuffleNet V2 unit (Ma et al., ECCV 2018): two branches, no split.

    .. math::

        l = \mathrm{ReLU}(\mathrm{BN}(W_2 * \mathrm{BN}(W_1^{dw} * x))), \quad
        r = \mathrm{ReLU}(\mathrm{BN}(W_5 * \mathrm{BN}(W_4^{dw} *
            \mathrm{ReLU}(\mathrm{BN}(W_3 * x))))), \quad
        y = \mathrm{shuffle}_2([l, r])

    Parameters
    ----------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels (even); each branch gives half.

    Example
    -------
    >>> import torch
    >>> ShuffleV2DownUnit(24, 116)(torch.randn(2, 24, 8, 8)).shape
    torch.Size([2, 116, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 2, 1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.relu3 = nn.ReLU()
        self.conv4 = nn.Conv2d(mid, mid, 3, 2, 1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)
        self.relu5 = nn.ReLU()
        self.shuffle = ChannelShuffle(2)

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation."""
        _reset(self)

    def forward(self, x: Tensor) -> Tensor:
        left = self.relu2(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = self.relu3(self.bn3(self.conv3(x)))
        right = self.relu5(self.bn5(self.conv5(self.bn4(self.conv4(right)))))
        return self.shuffle(torch.cat([left, right], dim=1))


class ShuffleNetV2(nn.Module):
    r"""ShuffleNet V2 1x (Ma et al., ECCV 2018) in the community CIFAR layout.

    A 1x1 stem to 24 channels, three stages (a :class:`ShuffleV2DownUnit` then
    ``stage_blocks`` :class:`ShuffleV2Unit`), a 1x1 convolution to ``head_channels``,
    global average pooling and a linear classifier named ``linear``. The defaults give
    the community "ShuffleV2".

    .. math::

        z = W\, \mathrm{GAP}(\mathrm{ReLU}(\mathrm{BN}(W_{1\times1} * \mathrm{stage}_3
            \circ \mathrm{stage}_2 \circ \mathrm{stage}_1 \circ \mathrm{stem}(x)))) + b

    Input adaptation: the stem takes ``in_channels``; the pooling averages the whole last
    map (bit-identical to the community ``avg_pool2d(out, 4)`` on 32x32 inputs), so 28x28
    inputs give 4x4 maps and the same classifier.

    Parameters
    ----------
    stage_channels : sequence of 3 int, default (116, 232, 464)
        Output channels of the stages.
    stage_blocks : sequence of 3 int, default (3, 7, 3)
        Stride-1 units per stage, after the stride-2 unit.
    head_channels : int, default 1024
        Output channels of the final 1x1 convolution.
    num_classes : int, default 100
        Size of the logits.
    in_channels : int, default 3
        Channels of the input images.
    input_size : int, default 32
        Side of the square input images; at least 8 (the network downsamples by 8).

    Example
    -------
    >>> import torch
    >>> net = ShuffleNetV2(num_classes=10).eval()
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        stage_channels: Sequence[int] = (116, 232, 464),
        stage_blocks: Sequence[int] = (3, 7, 3),
        head_channels: int = 1024,
        num_classes: int = 100,
        in_channels: int = 3,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        if len(stage_channels) != 3 or len(stage_blocks) != 3 or min(stage_blocks) < 1:
            raise ValueError(
                "stage_channels and stage_blocks need 3 entries each and every stage at "
                f"least one stride-1 unit, got {tuple(stage_channels)} and {tuple(stage_blocks)}"
            )
        check_sizes("ShuffleNetV2", num_classes, in_channels, input_size, 8)
        self.stage_blocks = tuple(stage_blocks)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_size = input_size

        self.conv1 = nn.Conv2d(in_channels, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.relu1 = nn.ReLU()
        planes = 24
        stages = []
        for channels, count in zip(stage_channels, stage_blocks):
            units: List[nn.Module] = [ShuffleV2DownUnit(planes, channels)]
            units += [ShuffleV2Unit(channels) for _ in range(count)]
            stages.append(nn.Sequential(*units))
            planes = channels
        self.layer1, self.layer2, self.layer3 = stages
        self.conv2 = nn.Conv2d(planes, head_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(head_channels)
        self.relu2 = nn.ReLU()
        self.avgpool = GlobalAvgPool2d()
        self.linear = nn.Linear(head_channels, num_classes)

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation."""
        _reset(self)

    def default_taps(self) -> TapPoints:
        """Stage outputs ``layer1..3``; pre-activations are the last units' ``shuffle``."""
        return TapPoints(
            embedding="avgpool",
            features=("layer1", "layer2", "layer3"),
            preact_features=tuple(
                f"layer{i + 1}.{count}.shuffle" for i, count in enumerate(self.stage_blocks)
            ),
            feature_map="relu2",
            classifier="linear",
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return self.linear(self.avgpool(out).flatten(1))
