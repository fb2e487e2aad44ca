"""CIFAR model zoo with community-compatible state dicts, torchvision and timm networks by
name, taps and checkpoint loading.

- :func:`create_model` / :func:`list_models`: the architectures of the CIFAR-100
  knowledge-distillation literature under their community names; their state dicts equal
  the community ones, so published checkpoints load with ``strict=True``. ``in_channels``
  and ``input_size`` adapt every model to 1-channel 28x28 Fashion-MNIST.
- :func:`create_network`: a zoo name, ``torchvision:<model>[:<weights>]`` or
  ``timm:<model>[:pretrained]``, pretrained weights fetched into the torch hub cache.
- :func:`tap` / :class:`TappedModel`: any network's forward turned into
  :class:`~graphkd.responses.Responses` (logits, embedding, named features).
- :class:`ResizeInput`: a network's input resized to its own side (the
  ``input_size`` network option, e.g. a CIFAR teacher of a 224-pixel ViT student).
- :func:`load_checkpoint`: community ``{"model": ...}``, graphkd and plain checkpoints.

Example
-------
>>> import torch
>>> from graphkd.models import create_model, tap
>>> teacher = tap(create_model("resnet32x4")).eval()
>>> r = teacher(torch.randn(2, 3, 32, 32))
>>> r.logits.shape, r.embedding.shape
(torch.Size([2, 100]), torch.Size([2, 256]))
"""

from .checkpoint import CHECKPOINT_FORMAT, load_checkpoint
from .known_taps import known_tap_points
from .mobilenetv2 import MobileNetV2
from .network_source import NetworkName, create_network, has_pretrained_weights, parse_network
from .resized_input import INPUT_OPTIONS, ResizeInput, input_resize
from .resnet import CifarResNet
from .resnet_imagenet_style import ImageNetStyleResNet
from .shufflenetv1 import ShuffleNetV1
from .shufflenetv2 import ShuffleNetV2
from .tap import TappedModel, tap
from .tap_points import TapPoints
from .vgg import VGG
from .wrn import WideResNet
from .zoo import MODELS, create_model, list_models

__all__ = [
    "CHECKPOINT_FORMAT",
    "INPUT_OPTIONS",
    "MODELS",
    "VGG",
    "CifarResNet",
    "ImageNetStyleResNet",
    "MobileNetV2",
    "NetworkName",
    "ResizeInput",
    "ShuffleNetV1",
    "ShuffleNetV2",
    "TapPoints",
    "TappedModel",
    "WideResNet",
    "create_model",
    "create_network",
    "has_pretrained_weights",
    "input_resize",
    "known_tap_points",
    "list_models",
    "load_checkpoint",
    "parse_network",
    "tap",
]
