"""Parameter-free building blocks and weight initialisation shared by the zoo families.

The zoo gives every activation, residual merge and pooling step its own module (none of
them holds parameters, so the state_dict keys are unchanged). Forward hooks can then see
each intermediate tensor: the input of a merge, its output before the final ReLU, and the
output after it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Add(nn.Module):
    """Residual merge by addition: ``branch + shortcut``.

    Example
    -------
    >>> import torch
    >>> Add()(torch.ones(1, 2), torch.ones(1, 2))
    tensor([[2., 2.]])
    """

    def forward(self, branch: Tensor, shortcut: Tensor) -> Tensor:
        return branch + shortcut


class Concat(nn.Module):
    """Residual merge by channel concatenation: ``cat([branch, shortcut], dim=1)``.

    Example
    -------
    >>> import torch
    >>> Concat()(torch.ones(1, 2, 1, 1), torch.zeros(1, 3, 1, 1)).shape
    torch.Size([1, 5, 1, 1])
    """

    def forward(self, branch: Tensor, shortcut: Tensor) -> Tensor:
        return torch.cat([branch, shortcut], dim=1)


class ChannelShuffle(nn.Module):
    """Channel shuffle of ShuffleNet (Zhang et al., CVPR 2018).

    Channels viewed as a ``(groups, C / groups)`` grid are transposed, so that channel
    ``g * (C / groups) + i`` moves to position ``i * groups + g``.

    Parameters
    ----------
    groups : int
        Number of channel groups; must divide the channel count of the input.

    Example
    -------
    >>> import torch
    >>> ChannelShuffle(2)(torch.arange(4.0).view(1, 4, 1, 1)).flatten().tolist()
    [0.0, 2.0, 1.0, 3.0]
    """

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class GlobalAvgPool2d(nn.Module):
    r"""Average over the whole feature map with one window of the map's own size.

    .. math::

        y_{b,c} = \frac{1}{HW} \sum_{h,w} x_{b,c,h,w}

    The window is ``x.shape[-2:]``. On the map size a 32x32 input produces, this is the
    very ``avg_pool2d`` call of the fixed-size pooling the community CIFAR code uses
    (bit-identical results), and on any other input size it is still a global average,
    so the same network runs on 28x28 Fashion-MNIST.

    Example
    -------
    >>> import torch
    >>> GlobalAvgPool2d()(torch.ones(2, 3, 7, 7)).shape
    torch.Size([2, 3, 1, 1])
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, kernel_size=x.shape[-2:])


def reset_tree(module: nn.Module, *, he_conv: bool, linear: str) -> None:
    """Re-initialise every convolution, batch norm and linear layer below ``module``.

    Parameters
    ----------
    module : nn.Module
        The root of the tree to initialise.
    he_conv : bool
        ``True``: convolution weights ~ N(0, 2 / (k_h k_w C_out)) (He et al. 2015,
        fan-out mode) and zero biases; ``False``: PyTorch's default initialisation.
    linear : {"default", "zero_bias", "small_normal"}
        PyTorch's default; the default weights with a zero bias; or weights ~ N(0, 0.01^2)
        with a zero bias.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            if he_conv:
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            else:
                m.reset_parameters()
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()
        elif isinstance(m, nn.Linear):
            m.reset_parameters()
            if linear == "small_normal":
                nn.init.normal_(m.weight, 0.0, 0.01)
            if linear in ("zero_bias", "small_normal"):
                nn.init.zeros_(m.bias)


def check_sizes(
    family: str, num_classes: int, in_channels: int, input_size: int, min_input_size: int
) -> None:
    """Raise a ``ValueError`` for a class count, channel count or input size a model cannot use."""
    if num_classes < 1:
        raise ValueError(
            f"num_classes must be >= 1, got {num_classes}; pass the dataset's class count"
        )
    if in_channels < 1:
        raise ValueError(
            f"in_channels must be >= 1, got {in_channels}; use 3 for RGB, 1 for grey images"
        )
    if input_size < min_input_size:
        raise ValueError(
            f"{family} downsamples by {min_input_size}, so input_size must be at least "
            f"{min_input_size}, got {input_size}; resize the images or pick another model"
        )
