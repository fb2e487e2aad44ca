"""VGG with batch norm for CIFAR (Simonyan & Zisserman, ICLR 2015): vgg8 ... vgg19."""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

from torch import Tensor, nn

from ._layers import check_sizes, reset_tree
from .tap_points import TapPoints

#: depth -> convolution widths of the five blocks
CONFIGS: Dict[int, Tuple[Tuple[int, ...], ...]] = {
    8: ((64,), (128,), (256,), (512,), (512,)),
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


def _reset(module: nn.Module) -> None:
    reset_tree(module, he_conv=True, linear="small_normal")


def _block(in_channels: int, widths: Sequence[int]) -> nn.Sequential:
    """conv-BN-ReLU repeated, the last ReLU left out (applied by the network)."""
    layers = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        in_channels = width
    return nn.Sequential(*layers[:-1])


class VGG(nn.Module):
    r"""VGG with batch norm (Simonyan & Zisserman, ICLR 2015) in the CIFAR layout.

    Five blocks of 3x3 convolution + batch norm + ReLU (``block0`` ... ``block4``), 2x2
    max pooling after blocks 0-2 (and after block 3 for inputs of 64 pixels or more),
    global average pooling and a single 512 -> ``num_classes`` linear classifier, as in
    the community CIFAR zoo.

    .. math::

        z = W\, \mathrm{GAP}(\mathrm{ReLU}(B_4(\cdots \mathrm{MaxPool}(\mathrm{ReLU}(
            B_0(x)))))) + b

    Input adaptation: the first convolution takes ``in_channels``; the final pooling is
    adaptive (as in the community code), so the classifier is 512 wide for every input
    size: 28x28 inputs reach block 4 at 3x3 instead of 4x4. ``input_size >= 64`` adds the
    max pooling after block 3 that the community code applies to 64-pixel inputs.

    Parameters
    ----------
    depth : int
        One of 8, 11, 13, 16, 19.
    num_classes : int, default 100
        Size of the logits.
    in_channels : int, default 3
        Channels of the input images.
    input_size : int, default 32
        Side of the square input images; at least 8 (the network max-pools three times).

    Example
    -------
    >>> import torch
    >>> net = VGG(8, num_classes=10).eval()
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int,
        num_classes: int = 100,
        in_channels: int = 3,
        input_size: int = 32,
    ) -> None:
        super().__init__()
        if depth not in CONFIGS:
            raise ValueError(f"VGG depth must be one of {sorted(CONFIGS)}, got {depth}")
        check_sizes("VGG", num_classes, in_channels, input_size, 8)
        config = CONFIGS[depth]
        self.depth = depth
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_size = input_size

        self.block0 = _block(in_channels, config[0])
        self.relu0 = nn.ReLU()
        self.pool0 = nn.MaxPool2d(2, 2)
        self.block1 = _block(config[0][-1], config[1])
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.block2 = _block(config[1][-1], config[2])
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.block3 = _block(config[2][-1], config[3])
        self.relu3 = nn.ReLU()
        self.pool3: nn.Module = nn.MaxPool2d(2, 2) if input_size >= 64 else nn.Identity()
        self.block4 = _block(config[3][-1], config[4])
        self.relu4 = nn.ReLU()
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(512, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal (fan-out) convolutions with zero bias, unit batch norms, N(0, 0.01^2)
        classifier with zero bias."""
        _reset(self)

    def default_taps(self) -> TapPoints:
        """Activated block outputs ``relu0..4``; pre-activations are ``block0..4``."""
        return TapPoints(
            embedding="pool4",
            features=tuple(f"relu{i}" for i in range(5)),
            preact_features=tuple(f"block{i}" for i in range(5)),
            feature_map="relu4",
            classifier="classifier",
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.pool0(self.relu0(self.block0(x)))
        out = self.pool1(self.relu1(self.block1(out)))
        out = self.pool2(self.relu2(self.block2(out)))
        out = self.pool3(self.relu3(self.block3(out)))
        out = self.relu4(self.block4(out))
        return self.classifier(self.pool4(out).flatten(1))
