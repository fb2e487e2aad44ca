"""ShuffleNet (Zhang et al., CVPR 2018) in the CIFAR layout: ShuffleV1."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from ._layers import Add, ChannelShuffle, Concat, GlobalAvgPool2d, check_sizes, reset_tree
from .tap_points import TapPoints


def _reset(module: nn.Module) -> None:
    reset_tree(module, he_conv=False, linear="default")


class ShuffleUnit(nn.Module):
    r"""ShuffleNet unit (Zhang et al., CVPR 2018) as laid out in the community CIFAR code.

    .. math::

        u = \mathrm{ReLU}(\mathrm{BN}(W_{dw} * \mathrm{shuffle}(\mathrm{ReLU}(
            \mathrm{BN}(W_{g1} * x))))), \qquad
        y = \mathrm{ReLU}\big(\mathrm{merge}(\mathrm{BN}(W_{g3} * u), S(x))\big)

    Grouped 1x1 reduction to ``out / 4`` channels, channel shuffle, 3x3 depthwise
    convolution (followed by a ReLU, as in the community code), grouped 1x1 expansion.
    Stride 1: :math:`S(x) = x` and the merge adds; stride 2: :math:`S` is a 3x3 stride-2
    average pooling (padding counted) and the merge concatenates, so the unit outputs
    ``out + in`` channels.

    Parameters
    ----------
    in_planes : int
        Input channels.
    out_planes : int
        Channels of the residual branch.
    stride : int
        1 or 2.
    groups : int
        Groups of the 1x1 convolutions.
    group_first : bool, default True
        Whether the first 1x1 convolution is grouped (not in the unit right after the
        24-channel stem).

    Example
    -------
    >>> import torch
    >>> ShuffleUnit(240, 240, 1, 3)(torch.randn(2, 240, 8, 8)).shape
    torch.Size([2, 240, 8, 8])
    """

    def __init__(
        self, in_planes: int, out_planes: int, stride: int, groups: int, group_first: bool = True
    ) -> None:
        super().__init__()
        mid = out_planes // 4
        first_groups = groups if group_first else 1
        self.conv1 = nn.Conv2d(in_planes, mid, 1, groups=first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.relu1 = nn.ReLU()
        self.shuffle1 = ChannelShuffle(first_groups)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(mid, out_planes, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut: nn.Module = nn.Identity()
        self.merge: nn.Module = Add()
        if stride == 2:
            self.shortcut = nn.AvgPool2d(3, stride=2, padding=1)
            self.merge = Concat()
        self.relu3 = nn.ReLU()

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation."""
        _reset(self)

    def forward(self, x: Tensor) -> Tensor:
        out = self.shuffle1(self.relu1(self.bn1(self.conv1(x))))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(self.merge(out, self.shortcut(x)))


class ShuffleNetV1(nn.Module):
    r"""ShuffleNet (Zhang et al., CVPR 2018), g = 3, in the community CIFAR layout.

    A 1x1 stem to 24 channels, three stages of :class:`ShuffleUnit` (the first of each
    at stride 2, concatenating its input), global average pooling and a linear
    classifier named ``linear``. The defaults give the community "ShuffleV1".

    .. math::

        z = W\, \mathrm{GAP}(\mathrm{stage}_3 \circ \mathrm{stage}_2 \circ \mathrm{stage}_1
            \circ \mathrm{ReLU} \circ \mathrm{BN} \circ \mathrm{conv}_{1\times1}(x)) + b

    Input adaptation: the stem takes ``in_channels``; the pooling averages the whole last
    map (bit-identical to the community ``avg_pool2d(out, 4)`` on 32x32 inputs), so 28x28
    inputs give 4x4 maps and the same classifier.

    Parameters
    ----------
    stage_channels : sequence of 3 int, default (240, 480, 960)
        Output channels of the stages.
    stage_blocks : sequence of 3 int, default (4, 8, 4)
        Units per stage.
    groups : int, default 3
        Groups of the 1x1 convolutions.
    num_classes : int, default 100
        Size of the logits.
    in_channels : int, default 3
        Channels of the input images.
    input_size : int, default 32
        Side of the square input images; at least 8 (the network downsamples by 8).

    Example
    -------
    >>> import torch
    >>> net = ShuffleNetV1(num_classes=10).eval()
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        stage_channels: Sequence[int] = (240, 480, 960),
        stage_blocks: Sequence[int] = (4, 8, 4),
        groups: int = 3,
        num_classes: int = 100,
        in_channels: int = 3,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        if len(stage_channels) != 3 or len(stage_blocks) != 3 or min(stage_blocks) < 1:
            raise ValueError(
                "stage_channels and stage_blocks need 3 entries each and every stage at "
                f"least one unit, got {tuple(stage_channels)} and {tuple(stage_blocks)}"
            )
        check_sizes("ShuffleNetV1", num_classes, in_channels, input_size, 8)
        self.stage_blocks = tuple(stage_blocks)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_size = input_size

        self.conv1 = nn.Conv2d(in_channels, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.relu = nn.ReLU()
        planes = 24
        stages = []
        for s, (channels, count) in enumerate(zip(stage_channels, stage_blocks)):
            units = [ShuffleUnit(planes, channels - planes, 2, groups, group_first=s > 0)]
            units += [ShuffleUnit(channels, channels, 1, groups) for _ in range(count - 1)]
            stages.append(nn.Sequential(*units))
            planes = channels
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = GlobalAvgPool2d()
        self.linear = nn.Linear(planes, num_classes)

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation."""
        _reset(self)

    def default_taps(self) -> TapPoints:
        """Stage outputs ``layer1..3``; pre-activations are the last units' ``merge``."""
        return TapPoints(
            embedding="avgpool",
            features=("layer1", "layer2", "layer3"),
            preact_features=tuple(
                f"layer{i + 1}.{count - 1}.merge" for i, count in enumerate(self.stage_blocks)
            ),
            feature_map="layer3",
            classifier="linear",
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(self.avgpool(out).flatten(1))
