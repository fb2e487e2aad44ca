"""Networks by name from three sources: the zoo, torchvision and timm.

A network name is one of

- a zoo name of :func:`graphkd.models.list_models` (``"resnet32x4"``);
- ``"torchvision:<model>"`` or ``"torchvision:<model>:<weights>"``: any torchvision
  classification model (``torchvision.models.list_models(module=torchvision.models)``),
  randomly initialised, or with its named pretrained weights (``IMAGENET1K_V1``,
  ``IMAGENET1K_V2``, ``DEFAULT``, ... the members of its ``*_Weights`` enum);
- ``"timm:<model>"`` or ``"timm:<model>:pretrained"``: any timm model (the optional
  extra ``pip install graphkd[timm]``); ``<model>`` may carry timm's weight tag,
  ``"timm:resnet50.a1_in1k:pretrained"``.

Pretrained torchvision weights download on first use into the torch hub cache,
``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``); without
network access the error names the file to place there. Every network comes back with
tap points :func:`graphkd.models.tap` uses (the zoo's ``default_taps()``, or
:func:`~graphkd.models.known_tap_points`).

Example
-------
>>> import torch
>>> net = create_network("torchvision:resnet18", num_classes=10).eval()
>>> net(torch.randn(1, 3, 64, 64)).shape
torch.Size([1, 10])
>>> parse_network("torchvision:resnet34:IMAGENET1K_V1")
NetworkName(source='torchvision', model='resnet34', weights='IMAGENET1K_V1')
"""

from __future__ import annotations

import importlib
import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision import models as tv_models

from graphkd.registry import did_you_mean

from .resized_input import resize_input, split_input_options
from .zoo import create_model, list_models

#: The prefixes of network names that are not zoo names.
SOURCES = ("torchvision", "timm")
#: The weights tag of a pretrained timm network.
TIMM_PRETRAINED = "pretrained"


@dataclass(frozen=True)
class NetworkName:
    """A parsed network name.

    Parameters
    ----------
    source : {"zoo", "torchvision", "timm"}
        Where the architecture comes from.
    model : str
        The architecture's name in that source.
    weights : str, optional
        Pretrained weights to load (``None``: random initialisation).
    """

    source: str
    model: str
    weights: Optional[str] = None


def parse_network(name: str) -> NetworkName:
    """Split ``name`` into source, model and weights; raise for a malformed or unknown name.

    Raises
    ------
    ValueError
        An unknown zoo or torchvision model, unknown torchvision weights, a timm name
        with weights other than ``pretrained``, or too many ``:`` parts; the message
        lists the valid choices.
    """
    parts = name.split(":")
    if len(parts) == 1:
        if name not in list_models():
            raise ValueError(
                f"unknown model {name!r}; valid names: {', '.join(list_models())}, or "
                "torchvision:<model>[:<weights>] or timm:<model>[:pretrained]"
                + did_you_mean(name, list_models())
            )
        return NetworkName("zoo", name)
    if parts[0] not in SOURCES or len(parts) > 3 or not parts[1]:
        raise ValueError(
            f"malformed model name {name!r}; write a zoo name, torchvision:<model>[:<weights>] "
            "(e.g. torchvision:resnet34:IMAGENET1K_V1) or timm:<model>[:pretrained]"
        )
    source, model = parts[0], parts[1]
    weights = parts[2] if len(parts) == 3 else None
    if source == "torchvision":
        valid = tv_models.list_models(module=tv_models)
        if model not in valid:
            raise ValueError(
                f"unknown torchvision classification model {model!r}; valid names: "
                f"{', '.join(valid)}"
            )
        if weights is not None:
            _torchvision_weights(model, weights)
    elif weights not in (None, TIMM_PRETRAINED):
        raise ValueError(
            f"timm weights are chosen by the model's tag (timm:{model}.<tag>:pretrained); "
            f"the third part of {name!r} must be {TIMM_PRETRAINED!r}"
        )
    return NetworkName(source, model, weights)


def create_network(
    name: str,
    num_classes: int = 100,
    in_channels: int = 3,
    input_size: int = 32,
    options: Optional[Dict[str, Any]] = None,
) -> nn.Module:
    """Build the network called ``name`` (see the module docstring) for a dataset's shape.

    Parameters
    ----------
    name : str
        A zoo name, ``torchvision:<model>[:<weights>]`` or ``timm:<model>[:pretrained]``.
    num_classes : int, default 100
        Size of the logits. Pretrained weights fix it (1000 for ImageNet weights).
    in_channels : int, default 3
        Image channels; torchvision models take 3.
    input_size : int, default 32
        Image side, used by the zoo's models (torchvision and timm pool adaptively).
    options : dict, optional
        Further keyword options of the network's constructor: a zoo model's (e.g.
        ``{"widths": [8, 8, 16, 32]}`` for a CIFAR ResNet of half the width), torchvision's
        builder's or ``timm.create_model``'s (e.g. ``{"drop_path_rate": 0.1}``). Two keys
        are graphkd's, for any network: ``input_size`` resizes every input to that side
        (a zoo model is then built for it, in place of ``input_size`` above) and
        ``input_interpolation`` (``"bilinear"`` by default) says how; see
        :mod:`graphkd.models.resized_input`. A timm ViT's own ``img_size`` stays a
        constructor option.

    Returns
    -------
    nn.Module
        ``forward(x)`` returns logits ``(B, num_classes)``.

    Raises
    ------
    ValueError
        An unknown name (see :func:`parse_network`), pretrained weights for another
        number of classes or channels, or an option the constructor does not take.
    RuntimeError
        Pretrained weights that cannot be downloaded; the message names the file to place
        in the torch hub cache.
    ImportError
        A ``timm:`` name without timm installed.
    """
    parsed = parse_network(name)
    resize, options = split_input_options(name, dict(options or {}))
    if resize is not None:
        input_size = resize.size
    try:
        if parsed.source == "zoo":
            network = create_model(
                name,
                num_classes=num_classes,
                in_channels=in_channels,
                input_size=input_size,
                **options,
            )
        elif parsed.source == "torchvision":
            network = _torchvision_network(parsed, num_classes, in_channels, options)
        else:
            network = _timm_network(parsed, num_classes, in_channels, options)
    except TypeError as error:
        if not options:
            raise
        raise ValueError(
            f"{name} does not take the options {options} ({error}); give only keyword "
            "options of its constructor (config: model.network_options)"
        ) from None
    return network if resize is None else resize_input(network, resize)


def has_pretrained_weights(name: str) -> bool:
    """Whether the network name ``name`` loads pretrained weights by itself."""
    return parse_network(name).weights is not None


def _torchvision_weights(model: str, weights: str) -> Any:
    enum = tv_models.get_model_weights(model)
    try:
        return enum[weights]
    except KeyError:
        valid = ", ".join(["DEFAULT", *enum.__members__])
        raise ValueError(
            f"torchvision model {model!r} has no weights {weights!r}; valid weights: {valid}"
        ) from None


def _torchvision_network(
    parsed: NetworkName, num_classes: int, in_channels: int, options: Dict[str, Any]
) -> nn.Module:
    if in_channels != 3:
        raise ValueError(
            f"torchvision:{parsed.model} takes RGB images but the data has {in_channels} "
            "channel(s); use an RGB dataset or a zoo model (in_channels adapts)"
        )
    if parsed.weights is None:
        return tv_models.get_model(parsed.model, weights=None, num_classes=num_classes, **options)
    weights = _torchvision_weights(parsed.model, parsed.weights)
    trained_classes = len(weights.meta["categories"])
    if trained_classes != num_classes:
        raise ValueError(
            f"torchvision:{parsed.model}:{parsed.weights} predicts {trained_classes} classes "
            f"but the dataset has {num_classes}; use weights of a {num_classes}-class model "
            "(model.teacher_checkpoint) or a dataset with those classes"
        )
    fetch_hub_file(weights.url)
    return tv_models.get_model(parsed.model, weights=weights, **options)


def hub_file(url: str) -> Path:
    """Where the torch hub cache keeps the download of ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def fetch_hub_file(url: str) -> Path:
    """Download ``url`` into the torch hub cache unless it is there already.

    Raises
    ------
    RuntimeError
        The download failed (no network access); the message says which file to place
        where.
    """
    target = hub_file(url)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), progress=False)
    except (urllib.error.URLError, OSError) as error:
        raise RuntimeError(
            f"could not download {url} ({error}); without network access, download that file "
            f"on another machine and place it at {target} (the torch hub cache, "
            "$TORCH_HOME/hub/checkpoints)"
        ) from None
    return target


def _timm_network(
    parsed: NetworkName, num_classes: int, in_channels: int, options: Dict[str, Any]
) -> nn.Module:
    try:
        timm = importlib.import_module("timm")
    except ImportError:
        raise ImportError(
            f"timm:{parsed.model} needs timm; install it with `pip install graphkd[timm]`"
        ) from None
    if parsed.weights is None:
        try:
            return timm.create_model(
                parsed.model, num_classes=num_classes, in_chans=in_channels, **options
            )
        except RuntimeError as error:  # timm's "Unknown model"
            raise ValueError(f"timm cannot build {parsed.model!r}: {error}") from None
    try:
        network = timm.create_model(parsed.model, pretrained=True, in_chans=in_channels, **options)
    except (RuntimeError, OSError, ValueError) as error:
        raise RuntimeError(
            f"timm could not load the pretrained weights of {parsed.model!r} ({error}); "
            "without network access, save the network's state_dict on another machine and "
            f"give it as the teacher checkpoint of timm:{parsed.model} (without ':pretrained')"
        ) from None
    if network.num_classes != num_classes:
        raise ValueError(
            f"timm:{parsed.model}:pretrained predicts {network.num_classes} classes but the "
            f"dataset has {num_classes}; use a checkpoint of a {num_classes}-class model"
        )
    return network
