"""The sample-to-sample relation a model's predictions express on one batch."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def prediction_relation(logits: Tensor, temperature: float = 1.0) -> Tensor:
    r"""Cosine similarity between the predicted distributions of every pair of samples.

    .. math::
        R_{ij} = \frac{\langle p_i, p_j \rangle}{\|p_i\|\,\|p_j\|}, \qquad
        p_i = \mathrm{softmax}(z_i / \tau)

    Comparing a teacher's :math:`R` with a student's shows which relations between
    samples the student reproduces (the knowledge relational methods transfer).

    Parameters
    ----------
    logits : Tensor
        ``(B, C)``.
    temperature : float, default 1
        :math:`\tau`.

    Returns
    -------
    Tensor
        ``(B, B)`` symmetric, in ``[0, 1]``, ones on the diagonal.

    Example
    -------
    >>> import torch
    >>> r = prediction_relation(torch.tensor([[9.0, 0.0], [9.0, 0.0], [0.0, 9.0]]))
    >>> [round(v, 3) for v in r[0].tolist()]
    [1.0, 1.0, 0.0]
    """
    if logits.dim() != 2:
        raise ValueError(f"prediction_relation needs logits (B, C), got {tuple(logits.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    unit = F.normalize(F.softmax(logits.detach().float() / temperature, dim=1), dim=1)
    return unit @ unit.t()
