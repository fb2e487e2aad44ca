"""Cutout: blank a random square of an image tensor (DeVries and Taylor, 2017).

A centre :math:`(c_y, c_x)` is drawn uniformly over the pixels and the square of side
:math:`s` around it, clipped to the image, is set to ``fill``:

.. math::

    x'_{:, i, j} = \\begin{cases}
        \\text{fill} & \\text{if } c_y - \\lfloor s/2 \\rfloor \\le i < c_y - \\lfloor s/2 \\rfloor + s
        \\text{ and } c_x - \\lfloor s/2 \\rfloor \\le j < c_x - \\lfloor s/2 \\rfloor + s \\\\
        x_{:, i, j} & \\text{otherwise}
    \\end{cases}

Near the border less than :math:`s^2` pixels are blanked. The centre is drawn with
:func:`torch.randint`, so results repeat under :func:`torch.manual_seed`.

Example
-------
>>> import torch
>>> _ = torch.manual_seed(0)
>>> out = Cutout(2)(torch.ones(1, 4, 4))
>>> int((out == 0).sum()) <= 4
True
"""

from __future__ import annotations

import torch


class Cutout:
    """Set a random ``size`` x ``size`` square (clipped to the image) to ``fill``.

    Parameters
    ----------
    size : int
        Side of the square, in pixels; at least 1.
    fill : float, default 0.0
        Value written into the square.

    Call
    ----
    image : torch.Tensor
        Shape ``(..., H, W)``, any dtype (e.g. the ``uint8`` output of ``PILToTensor``).
        Returns a new tensor of the same shape and dtype; the input is not modified.

    Example
    -------
    >>> import torch
    >>> _ = torch.manual_seed(1)
    >>> Cutout(3)(torch.ones(1, 5, 5, dtype=torch.uint8)).shape
    torch.Size([1, 5, 5])
    """

    def __init__(self, size: int, fill: float = 0.0) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"Cutout size must be a positive int, got {size!r}; pass e.g. 16")
        self.size = size
        self.fill = fill

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if not isinstance(image, torch.Tensor) or image.dim() < 2:
            kind = type(image).__name__
            raise ValueError(
                f"Cutout acts on image tensors (..., H, W), got {kind}; convert the image "
                f"first, e.g. with torchvision.transforms.PILToTensor()"
            )
        height, width = image.shape[-2], image.shape[-1]
        centre_y = int(torch.randint(height, (1,)))
        centre_x = int(torch.randint(width, (1,)))
        top = centre_y - self.size // 2
        left = centre_x - self.size // 2
        y0, y1 = max(top, 0), min(top + self.size, height)
        x0, x1 = max(left, 0), min(left + self.size, width)
        out = image.clone()
        out[..., y0:y1, x0:x1] = self.fill
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, fill={self.fill})"
