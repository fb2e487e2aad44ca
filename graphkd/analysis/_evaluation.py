"""Shared plumbing of the analysis measures: model outputs, devices, loader batches."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from graphkd.responses import Responses

Batches = Union[Tensor, Sequence[Tensor]]


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (CPU for a stateless model)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def logits_of(output: Any) -> Tensor:
    """The logits of a network output: a tensor, or :class:`Responses` from a tapped model."""
    if isinstance(output, Responses):
        return output.logits
    if isinstance(output, Tensor):
        return output
    raise ValueError(
        f"the model returned a {type(output).__name__}; the analysis needs a network returning "
        "logits (B, C) or a graphkd.models.tap() of one"
    )


def loader_batches(loader: Any, what: str = "loader") -> Iterator[Tuple[Tensor, Tensor]]:
    """``(images, labels)`` of every batch of ``loader`` (extra items such as indices dropped).

    Raises a ``ValueError`` after the loop when ``loader`` yielded no batch.
    """
    empty = True
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(
                f"the {what} must yield (images, labels[, ...]) batches, got "
                f"{type(batch).__name__}; wrap the dataset so that it returns pairs"
            )
        empty = False
        yield batch[0], batch[1]
    if empty:
        raise ValueError(
            f"the {what} yielded no batch; give it a dataset with at least one image "
            "(check the subset size)"
        )


@torch.no_grad()
def accuracy(
    model: nn.Module,
    loader: Any,
    transform: Optional[Callable[[Tensor], Tensor]] = None,
    device: Optional[torch.device] = None,
    what: str = "loader",
) -> float:
    """Top-1 accuracy (%) of ``model`` in eval mode on ``loader``, images passed through
    ``transform`` (on the CPU, before moving to ``device``) when given."""
    device = model_device(model) if device is None else device
    was_training = model.training
    model.eval()
    correct, count = 0, 0
    try:
        for images, labels in loader_batches(loader, what):
            if transform is not None:
                images = transform(images)
            logits = logits_of(model(images.to(device)))
            correct += int((logits.argmax(1).cpu() == labels.cpu()).sum())
            count += int(labels.numel())
    finally:
        model.train(was_training)
    return 100.0 * correct / count


def as_batches(value: Batches, name: str) -> List[Tensor]:
    """One tensor or a sequence of batch tensors, as a non-empty list."""
    batches = [value] if isinstance(value, Tensor) else list(value)
    if not batches:
        raise ValueError(f"{name} holds no batch; pass a tensor or a non-empty list of tensors")
    for batch in batches:
        if not isinstance(batch, Tensor):
            raise ValueError(
                f"{name} must be a tensor or a list of tensors, found a {type(batch).__name__}"
            )
    return batches
