"""A learnable linear map of student features to the teacher's width."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class Projector(nn.Module):
    r"""Linear projection, optionally L2-normalised, for features of unequal widths.

    .. math::
        h' = W h + b, \qquad h' \leftarrow h' / \|h'\|_2 \ \text{if normalise}

    Parameters
    ----------
    in_feats : int
        Width of the student's features.
    out_feats : int
        Width to map to (the teacher's).
    bias : bool
        Learn a bias (default ``True``).
    normalise : bool
        L2-normalise the output rows (default ``False``).

    Example
    -------
    >>> import torch
    >>> Projector(16, 32)(torch.randn(4, 16)).shape
    torch.Size([4, 32])
    """

    def __init__(
        self, in_feats: int, out_feats: int, bias: bool = True, normalise: bool = False
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(in_feats, out_feats, bias=bias)
        self.normalise = normalise

    def reset_parameters(self) -> None:
        """Re-initialise the weights as :class:`torch.nn.Linear` does."""
        self.linear.reset_parameters()

    def forward(self, feat: Tensor) -> Tensor:
        """``(B, in_feats) -> (B, out_feats)``."""
        out = self.linear(feat)
        return F.normalize(out, dim=-1) if self.normalise else out
