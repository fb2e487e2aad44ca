"""Mutual information between two models' top-1 predictions (plug-in estimate)."""

from __future__ import annotations

from typing import List

import torch
from torch import Tensor

from graphkd.analysis._evaluation import Batches, as_batches


def _labels(value: Tensor, num_classes: int, name: str) -> Tensor:
    if value.dim() == 2:
        if value.shape[1] != num_classes:
            raise ValueError(
                f"{name} holds logits of {value.shape[1]} classes but num_classes is "
                f"{num_classes}; compare models trained on the same label set"
            )
        value = value.argmax(1)
    if value.dim() != 1:
        raise ValueError(
            f"{name} must be predicted labels (B,) or logits (B, C), got shape {tuple(value.shape)}"
        )
    if value.is_floating_point():
        raise ValueError(f"{name} labels must be integers; pass argmax(1) of the logits")
    if value.numel() and (int(value.min()) < 0 or int(value.max()) >= num_classes):
        raise ValueError(
            f"{name} holds labels outside 0 .. {num_classes - 1}; pass the right num_classes"
        )
    return value.long().cpu()


def _plug_in(a: Tensor, b: Tensor, num_classes: int) -> float:
    joint = torch.bincount(a * num_classes + b, minlength=num_classes * num_classes)
    joint = joint.double().reshape(num_classes, num_classes) / a.numel()
    outer = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
    seen = joint > 0
    return float((joint[seen] * (joint[seen].log() - outer[seen].log())).sum())


def mutual_information(a: Batches, b: Batches, num_classes: int) -> float:
    r"""Plug-in mutual information (nats) between two models' top-1 predictions.

    From the joint histogram :math:`\hat p_{jk} = \frac1B |\{i : a_i = j, b_i = k\}|` and
    its marginals :math:`\hat p_{j\cdot}`, :math:`\hat p_{\cdot k}`:

    .. math::
        \hat I(a; b) = \sum_{j,k:\ \hat p_{jk} > 0}
            \hat p_{jk} \log \frac{\hat p_{jk}}{\hat p_{j\cdot}\, \hat p_{\cdot k}}.

    Given lists of batches, the estimate is computed per batch and the batch values are
    averaged (the reference protocol), which differs from one estimate over all samples.

    Parameters
    ----------
    a, b : Tensor or sequence of Tensor
        Predicted labels ``(B,)`` or logits ``(B, C)`` (their ``argmax`` is taken); or lists
        of such batches, paired batch by batch.
    num_classes : int
        ``C``; labels lie in ``0 .. C - 1``.

    Returns
    -------
    float
        :math:`\hat I` in nats, between 0 and :math:`\min(H(a), H(b))`.

    Example
    -------
    >>> import torch
    >>> y = torch.tensor([0, 1, 0, 1])
    >>> round(mutual_information(y, y, num_classes=2), 4)  # = H(y) = log 2
    0.6931
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    first, second = as_batches(a, "a"), as_batches(b, "b")
    if len(first) != len(second):
        raise ValueError(
            f"a holds {len(first)} batches but b {len(second)}; pair the batches one to one"
        )
    values: List[float] = []
    for i, (x, y) in enumerate(zip(first, second)):
        x, y = _labels(x, num_classes, "a"), _labels(y, num_classes, "b")
        if x.numel() != y.numel():
            raise ValueError(
                f"batch {i}: a has {x.numel()} predictions but b {y.numel()}; feed both "
                "models the same images"
            )
        if x.numel() == 0:
            raise ValueError(f"batch {i} holds no prediction; drop empty batches")
        values.append(_plug_in(x, y, num_classes))
    return sum(values) / len(values)
