"""Wide residual networks (Zagoruyko & Komodakis, BMVC 2016): wrn_16_1 ... wrn_40_2."""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from ._layers import Add, GlobalAvgPool2d, check_sizes, reset_tree
from .tap_points import TapPoints


def _reset(module: nn.Module) -> None:
    reset_tree(module, he_conv=True, linear="zero_bias")


class WideBasicBlock(nn.Module):
    r"""Pre-activation block of a wide ResNet (Zagoruyko & Komodakis, BMVC 2016).

    .. math::

        a = \mathrm{ReLU}(\mathrm{BN}_1(x)), \qquad
        y = W_2 * \mathrm{drop}(\mathrm{ReLU}(\mathrm{BN}_2(W_1 * a))) + S

    with :math:`S = x` when the width is unchanged, else :math:`S = W_s * a` (the 1x1
    ``convShortcut`` on the activated input). The output is not activated: the next
    block's (or the head's) batch norm + ReLU does that.

    Parameters
    ----------
    in_planes : int
        Input channels.
    out_planes : int
        Output channels.
    stride : int, default 1
        Stride of the first convolution and of the shortcut convolution.
    drop_rate : float, default 0.0
        Dropout probability between the two convolutions.

    Example
    -------
    >>> import torch
    >>> WideBasicBlock(16, 32, stride=2)(torch.randn(2, 16, 8, 8)).shape
    torch.Size([2, 32, 4, 4])
    """

    def __init__(
        self, in_planes: int, out_planes: int, stride: int = 1, drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU()
        self.dropout: nn.Module = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, padding=1, bias=False)
        self.convShortcut: Optional[nn.Conv2d] = None
        if in_planes != out_planes:
            self.convShortcut = nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)
        self.merge = Add()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms."""
        _reset(self)

    def forward(self, x: Tensor) -> Tensor:
        activated = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(activated)))
        out = self.conv2(self.dropout(out))
        shortcut = x if self.convShortcut is None else self.convShortcut(activated)
        return self.merge(out, shortcut)


class WideStage(nn.Module):
    """A stage of :class:`WideBasicBlock` held in ``self.layer`` (the checkpoint layout).

    Parameters
    ----------
    num_blocks : int
        Blocks in the stage.
    in_planes : int
        Input channels of the first block.
    out_planes : int
        Output channels of every block.
    stride : int
        Stride of the first block.
    drop_rate : float, default 0.0
        Dropout probability inside each block.

    Example
    -------
    >>> import torch
    >>> WideStage(2, 16, 32, stride=2)(torch.randn(2, 16, 8, 8)).shape
    torch.Size([2, 32, 4, 4])
    """

    def __init__(
        self, num_blocks: int, in_planes: int, out_planes: int, stride: int, drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        self.layer = nn.Sequential(
            *(
                WideBasicBlock(
                    in_planes if i == 0 else out_planes,
                    out_planes,
                    stride if i == 0 else 1,
                    drop_rate,
                )
                for i in range(num_blocks)
            )
        )

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms."""
        _reset(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    r"""WRN-depth-k of Zagoruyko & Komodakis (BMVC 2016) for 32x32 inputs.

    A 3x3 stem with 16 channels, three stages of ``n = (depth - 4) / 6`` pre-activation
    blocks with widths ``16k, 32k, 64k`` at strides 1, 2, 2, a final batch norm + ReLU,
    global average pooling and a linear classifier, laid out as in the community CIFAR
    zoo (``block1.layer.0.bn1``, ``convShortcut``, ...).

    .. math::

        z = W_{fc}\, \mathrm{GAP}(\mathrm{ReLU}(\mathrm{BN}(\mathrm{stage}_3 \circ
            \mathrm{stage}_2 \circ \mathrm{stage}_1 \circ \mathrm{conv}(x)))) + b_{fc}

    Input adaptation: the stem takes ``in_channels``; the pooling averages the whole last
    map (bit-identical to the community ``avg_pool2d(out, 8)`` on 32x32 inputs), so 28x28
    inputs give 7x7 maps and the same classifier.

    Taps: the blocks are pre-activation, so a stage's activated output is computed by the
    next stage's first ``bn1``/``relu1`` (and by the head's ``bn1``/``relu`` for the last
    stage); :meth:`default_taps` names those modules.

    Parameters
    ----------
    depth : int
        6n+4: 16, 22, 28, 40, ...
    widen_factor : int, default 1
        Width multiplier ``k``.
    num_classes : int, default 100
        Size of the logits.
    in_channels : int, default 3
        Channels of the input images.
    input_size : int, default 32
        Side of the square input images; at least 4 (the network downsamples by 4).
    drop_rate : float, default 0.0
        Dropout probability inside each block.

    Example
    -------
    >>> import torch
    >>> net = WideResNet(16, widen_factor=1, num_classes=10).eval()
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int,
        widen_factor: int = 1,
        num_classes: int = 100,
        in_channels: int = 3,
        input_size: int = 32,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"WideResNet depth must be 6n+4 (10, 16, 22, ...), got {depth}")
        if widen_factor < 1:
            raise ValueError(f"widen_factor must be >= 1, got {widen_factor}")
        check_sizes("WideResNet", num_classes, in_channels, input_size, 4)
        self.depth = depth
        self.widen_factor = widen_factor
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_size = input_size
        n = (depth - 4) // 6
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)

        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.block1 = WideStage(n, widths[0], widths[1], 1, drop_rate)
        self.block2 = WideStage(n, widths[1], widths[2], 2, drop_rate)
        self.block3 = WideStage(n, widths[2], widths[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU()
        self.avgpool = GlobalAvgPool2d()
        self.fc = nn.Linear(widths[3], num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions, unit batch norms, zero classifier bias."""
        _reset(self)

    def default_taps(self) -> TapPoints:
        """Activated stage outputs (``block2.layer.0.relu1``, ``block3.layer.0.relu1``,
        ``relu``) and their batch-normed pre-activations."""
        return TapPoints(
            embedding="avgpool",
            features=("block2.layer.0.relu1", "block3.layer.0.relu1", "relu"),
            preact_features=("block2.layer.0.bn1", "block3.layer.0.bn1", "bn1"),
            feature_map="relu",
            classifier="fc",
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = self.relu(self.bn1(out))
        return self.fc(self.avgpool(out).flatten(1))
