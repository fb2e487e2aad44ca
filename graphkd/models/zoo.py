"""The model zoo: the CIFAR knowledge-distillation architectures by their community names.

Every name builds a network whose ``state_dict`` (keys in order, shapes) equals that of
the community CIFAR-100 zoo of the knowledge-distillation literature for
``num_classes=100``, so published ``{"model": state_dict}`` teacher checkpoints load with
``strict=True`` (see :func:`graphkd.models.load_checkpoint`) and compute the same logits.

Example
-------
>>> import torch
>>> from graphkd.models import create_model, list_models
>>> "resnet32x4" in list_models()
True
>>> net = create_model("wrn_16_2", num_classes=10, in_channels=1, input_size=28).eval()
>>> net(torch.randn(2, 1, 28, 28)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from functools import partial
from typing import Any, List

from torch import nn

from ..registry import Registry
from .mobilenetv2 import MobileNetV2
from .resnet import CifarResNet
from .resnet_imagenet_style import ImageNetStyleResNet
from .shufflenetv1 import ShuffleNetV1
from .shufflenetv2 import ShuffleNetV2
from .vgg import VGG
from .wrn import WideResNet

MODELS = Registry("model")


def _register_zoo() -> None:
    for depth in (8, 14, 20, 32, 44, 56, 110):
        MODELS.register(f"resnet{depth}")(partial(CifarResNet, depth, widths=(16, 16, 32, 64)))
    for depth in (8, 32):
        MODELS.register(f"resnet{depth}x4")(partial(CifarResNet, depth, widths=(32, 64, 128, 256)))
    for depth in (16, 40):
        for width in (1, 2):
            MODELS.register(f"wrn_{depth}_{width}")(partial(WideResNet, depth, widen_factor=width))
    for depth in (8, 11, 13, 16, 19):
        MODELS.register(f"vgg{depth}")(partial(VGG, depth))
    for depth in (18, 50):
        MODELS.register(f"ResNet{depth}")(partial(ImageNetStyleResNet, depth))
    MODELS.register("MobileNetV2")(partial(MobileNetV2, width_mult=0.5, expansion=6))
    MODELS.register("ShuffleV1")(ShuffleNetV1)
    MODELS.register("ShuffleV2")(ShuffleNetV2)


_register_zoo()


def create_model(
    name: str,
    num_classes: int = 100,
    in_channels: int = 3,
    input_size: int = 32,
    **kwargs: Any,
) -> nn.Module:
    """Build a zoo model by name.

    Parameters
    ----------
    name : str
        One of :func:`list_models`: resnet8, resnet14, resnet20, resnet32, resnet44,
        resnet56, resnet110, resnet8x4, resnet32x4, wrn_16_1, wrn_16_2, wrn_40_1,
        wrn_40_2, vgg8, vgg11, vgg13, vgg16, vgg19 (all with batch norm), ResNet18,
        ResNet50, MobileNetV2 (half width), ShuffleV1, ShuffleV2.
    num_classes : int, default 100
        Size of the logits ``(B, num_classes)``.
    in_channels : int, default 3
        Channels of the input images; the first convolution takes them (1 for
        Fashion-MNIST).
    input_size : int, default 32
        Side of the square input images (28 for Fashion-MNIST). Pooling adapts to the
        map size, so every model runs on 28x28 and 32x32 inputs with the same classifier.
    **kwargs
        Further options of the model class (e.g. ``drop_rate`` for the wide ResNets).

    Returns
    -------
    nn.Module
        The network; ``forward(x)`` returns logits and ``default_taps()`` names its tap
        points (see :class:`~graphkd.models.TapPoints`).

    Example
    -------
    >>> import torch
    >>> net = create_model("resnet8x4").eval()
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 100])
    """
    if name not in MODELS:
        try:
            MODELS.get(name)
        except ValueError as error:  # the unknown name, listing the zoo's
            raise ValueError(
                f"{error}; torchvision and timm networks ('torchvision:resnet18', "
                f"'timm:...') are built by graphkd.models.create_network"
            ) from None
    factory = MODELS.get(name)
    return factory(
        num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs
    )


def list_models() -> List[str]:
    """The names :func:`create_model` accepts, sorted.

    Example
    -------
    >>> list_models()[:3]
    ['MobileNetV2', 'ResNet18', 'ResNet50']
    """
    return MODELS.names()
