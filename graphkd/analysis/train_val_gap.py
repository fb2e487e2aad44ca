"""The generalisation gap: training accuracy minus validation accuracy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from graphkd.analysis._evaluation import accuracy


@dataclass(frozen=True)
class TrainValGap:
    """Top-1 accuracies (%) on training and validation data, and their difference.

    Parameters
    ----------
    train_acc, val_acc : float
        Accuracies in percent.
    gap : float
        ``train_acc - val_acc`` in percentage points.
    """

    train_acc: float
    val_acc: float
    gap: float


def train_val_gap(
    model: nn.Module, train_loader: Any, val_loader: Any, device: Optional[torch.device] = None
) -> TrainValGap:
    r"""Top-1 accuracy on training data minus top-1 accuracy on validation data.

    .. math::
        \mathrm{gap} = \mathrm{acc}(f, \mathcal{D}_{train}) - \mathrm{acc}(f, \mathcal{D}_{val})

    Both loaders should use the evaluation transform (no augmentation), so that the gap
    measures memorisation rather than the augmentation's difficulty.

    Parameters
    ----------
    model : nn.Module
        A network or :class:`~graphkd.models.TappedModel`, evaluated in eval mode.
    train_loader, val_loader : iterable
        Yield ``(images, labels, ...)`` model-ready batches.
    device : torch.device, optional
        Where the model runs; default the device of its parameters.

    Raises
    ------
    ValueError
        When a loader is empty.

    Example
    -------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> net = torch.nn.Linear(3, 2)
    >>> x = torch.randn(6, 3)
    >>> right = DataLoader(TensorDataset(x, net(x).argmax(1)), batch_size=3)
    >>> wrong = DataLoader(TensorDataset(x, 1 - net(x).argmax(1)), batch_size=3)
    >>> train_val_gap(net, right, wrong).gap
    100.0
    """
    train_acc = accuracy(model, train_loader, device=device, what="train loader")
    val_acc = accuracy(model, val_loader, device=device, what="validation loader")
    return TrainValGap(train_acc=train_acc, val_acc=val_acc, gap=train_acc - val_acc)
