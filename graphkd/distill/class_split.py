"""The target class apart from the other classes of labelled responses (DKD, NKD)."""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from graphkd.responses import Responses


def split_classes(
    scores: Tensor, responses: Responses, who: str = "responses"
) -> Tuple[Tensor, Tensor]:
    """Each row's labelled entry ``(B, 1)`` and its other entries ``(B, C - 1)`` in class
    order, of ``(B, C)`` ``scores`` (the logits or a function of them), by gathers (no host
    synchronisation, unlike a boolean mask).

    Raises
    ------
    ValueError
        No labels, labels of another shape than ``(B,)``, or fewer than two classes.

    Example
    -------
    >>> logits = torch.arange(6.0).view(2, 3)
    >>> target, others = split_classes(logits, Responses(logits, labels=torch.tensor([2, 0])))
    >>> target.tolist(), others.tolist()
    ([[2.0], [3.0]], [[0.0, 1.0], [4.0, 5.0]])
    """
    logits, labels = responses.logits, responses.labels
    if labels is None:
        raise ValueError(
            f"the {who} carry no labels; methods that split the target class from the "
            "others need Responses(labels=...) (the trainer sets them on every batch)"
        )
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"the {who} have logits of shape {tuple(logits.shape)} and labels of shape "
            f"{tuple(labels.shape)}; pass (B, C) logits and (B,) integer labels"
        )
    if logits.shape[1] < 2:
        raise ValueError(
            f"the {who} score {logits.shape[1]} class; splitting the target class from the "
            "others needs at least 2 classes"
        )
    label = labels.long().view(-1, 1)
    others = torch.arange(logits.shape[1] - 1, device=logits.device).view(1, -1)
    others = others + (others >= label).long()
    return scores.gather(1, label), scores.gather(1, others)


def check_labels(responses: Responses, who: str = "responses") -> None:
    """Raise a ``ValueError`` unless every label is a class index of the logits (one host
    synchronisation; distillers call it only while their ``check_inputs`` is on)."""
    labels, classes = responses.labels, responses.logits.shape[-1]
    if labels is None:
        split_classes(responses.logits, responses, who)
    elif labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(
            f"the {who} carry {labels.dtype} labels; pass integer class indices (torch.long)"
        )
    elif bool(((labels < 0) | (labels >= classes)).any()):
        raise ValueError(
            f"the {who} carry labels outside [0, {classes}) (the logits score {classes} "
            "classes); give teacher and student as many classes as the dataset has"
        )


def check_pair_labels(teacher: Responses, student: Responses) -> None:
    """:func:`check_labels` of the student's and then the teacher's responses."""
    check_labels(student, "student responses")
    check_labels(teacher, "teacher responses")
