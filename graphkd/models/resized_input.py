r"""A network that resizes its input to the side it is built for.

The ConvNet-to-ViT set-up of Li et al. (ECCV 2022), which the VRM paper's Table 3
follows, trains a vision-transformer student on 224-pixel images while its CIFAR
teacher, trained on 32-pixel ones, sees the student's batch resized back to 32 pixels.
One data pipeline feeds both: each network resizes what it receives,

.. math::

    f(x) = g\big(\operatorname{resize}_{s \times s}(x)\big), \qquad
    x \in \mathbb{R}^{B \times C \times H \times W} \to
    \operatorname{resize}(x) \in \mathbb{R}^{B \times C \times s \times s}

with ``torch.nn.functional.interpolate`` (``align_corners=False``, no antialiasing,
as in Li et al.'s teacher; an input already :math:`s \times s` passes untouched).

The resize is a forward pre-hook on the network, not a wrapping module: the state dict,
the tap points and the network's class stay those of the network itself, so a teacher
trained at 32 pixels loads its weights unchanged. The options come by network name in
``model.network_options`` (``input_size``, ``input_interpolation``), so ``model.pt``
records them and ``graphkd evaluate`` rebuilds the same network.

Example
-------
>>> import torch
>>> from graphkd.models import create_network, input_resize
>>> teacher = create_network("resnet8", 10, options={"input_size": 32})
>>> teacher(torch.randn(2, 3, 64, 64)).shape
torch.Size([2, 10])
>>> input_resize(teacher)
ResizeInput(size=32, interpolation='bilinear')
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

#: The ``model.network_options`` keys that resize a network's input (not passed to its
#: constructor).
INPUT_OPTIONS = ("input_size", "input_interpolation")
#: The modes of ``input_interpolation``.
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "area")


class ResizeInput:
    """A forward pre-hook that resizes the first input ``(B, C, H, W)`` to
    ``(B, C, size, size)``.

    Parameters
    ----------
    size : int
        Side of the network's input, in pixels.
    interpolation : {"bilinear", "bicubic", "nearest", "area"}, default "bilinear"
        The mode of ``torch.nn.functional.interpolate``.
    """

    def __init__(self, size: int, interpolation: str = "bilinear") -> None:
        self.size = size
        self.interpolation = interpolation

    def __call__(self, module: nn.Module, args: Tuple[Any, ...]) -> Optional[Tuple[Any, ...]]:
        images: Tensor = args[0]
        if tuple(images.shape[-2:]) == (self.size, self.size):
            return None
        corners = False if self.interpolation in ("bilinear", "bicubic") else None
        resized = F.interpolate(
            images, size=(self.size, self.size), mode=self.interpolation, align_corners=corners
        )
        return (resized, *args[1:])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, interpolation={self.interpolation!r})"


def split_input_options(
    name: str, options: Dict[str, Any]
) -> Tuple[Optional[ResizeInput], Dict[str, Any]]:
    """The input resize that network ``name``'s ``options`` ask for (``None`` without
    ``input_size``), and the remaining constructor options.

    Raises
    ------
    ValueError
        An ``input_size`` that is not a positive int, an ``input_interpolation`` not of
        :data:`INTERPOLATIONS`, or an ``input_interpolation`` without ``input_size``; the
        message names the ``model.network_options`` key and the fix.
    """
    rest = {key: value for key, value in options.items() if key not in INPUT_OPTIONS}
    size = options.get("input_size")
    interpolation = options.get("input_interpolation", "bilinear")
    key = f"model.network_options.{name}"
    if size is None:
        if "input_interpolation" in options:
            raise ValueError(
                f"{key}.input_interpolation resizes the input to input_size, which {key} "
                f"does not give; add it (e.g. --set '{key}={{input_size: 32, "
                f"input_interpolation: {interpolation}}}') or leave input_interpolation out"
            )
        return None, rest
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(
            f"{key}.input_size must be the side in pixels the network sees (a positive "
            f"int), got {size!r}; e.g. --set '{key}={{input_size: 32}}'"
        )
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"{key}.input_interpolation must be one of {', '.join(INTERPOLATIONS)}, got "
            f"{interpolation!r}; e.g. --set '{key}={{input_size: {size}, "
            "input_interpolation: bilinear}'"
        )
    return ResizeInput(size, interpolation), rest


def resize_input(network: nn.Module, resize: ResizeInput) -> nn.Module:
    """``network`` with ``resize`` as a forward pre-hook (see the module docstring)."""
    network.register_forward_pre_hook(resize)
    return network


def input_resize(network: nn.Module) -> Optional[ResizeInput]:
    """The :class:`ResizeInput` hook of ``network``, or ``None``."""
    for hook in network._forward_pre_hooks.values():
        if isinstance(hook, ResizeInput):
            return hook
    return None
