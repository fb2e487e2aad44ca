"""What a network emits for one batch, as consumed by graph builders."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Dict, Optional

import torch
from torch import Tensor


@dataclass
class Responses:
    """The outputs of one network on one batch.

    Parameters
    ----------
    logits : Tensor
        ``(B, C)`` class scores.
    embedding : Tensor, optional
        ``(B, D)`` pooled penultimate features.
    features : dict of str to Tensor
        Named intermediate outputs from taps, each ``(B, ...)``.
    index : Tensor, optional
        ``(B,)`` dataset indices of the samples (for memory banks).
    labels : Tensor, optional
        ``(B,)`` class labels.
    virtual : Responses, optional
        The responses of a second ("virtual") view of the same images.

    Example
    -------
    >>> import torch
    >>> r = Responses(logits=torch.zeros(4, 10), embedding=torch.zeros(4, 16))
    >>> r.batch_size, r.num_classes
    (4, 10)
    """

    logits: Tensor
    embedding: Optional[Tensor] = None
    features: Dict[str, Tensor] = field(default_factory=dict)
    index: Optional[Tensor] = None
    labels: Optional[Tensor] = None
    virtual: Optional[Responses] = None

    def __post_init__(self) -> None:
        if self.logits.dim() != 2:
            raise ValueError(
                f"logits must have shape (B, C), got {tuple(self.logits.shape)}; "
                "flatten or pool the network output before building Responses"
            )
        batch = self.logits.shape[0]
        named = {"embedding": self.embedding, "index": self.index, "labels": self.labels}
        named.update({f"features[{k!r}]": v for k, v in self.features.items()})
        for name, value in named.items():
            if value is not None and value.shape[0] != batch:
                raise ValueError(
                    f"{name} has {value.shape[0]} rows but logits have {batch}; "
                    "all responses of one batch must share the batch dimension"
                )
        if self.embedding is not None and self.embedding.dim() != 2:
            raise ValueError(f"embedding must have shape (B, D), got {tuple(self.embedding.shape)}")

    @property
    def batch_size(self) -> int:
        """``B``, the number of samples."""
        return int(self.logits.shape[0])

    @property
    def num_classes(self) -> int:
        """``C``, the number of classes."""
        return int(self.logits.shape[1])

    def detach(self) -> Responses:
        """A copy whose tensors are cut from the autograd graph."""
        return self.map(lambda t: t.detach())

    def map(self, fn) -> Responses:  # type: ignore[no-untyped-def]
        """A copy with ``fn`` applied to every float tensor (logits, embedding, features)."""
        return replace(
            self,
            logits=fn(self.logits),
            embedding=None if self.embedding is None else fn(self.embedding),
            features={k: fn(v) for k, v in self.features.items()},
            virtual=None if self.virtual is None else self.virtual.map(fn),
        )

    def require_virtual(self) -> Responses:
        """The virtual view, or a clear error when the batch has none."""
        if self.virtual is None:
            raise ValueError(
                "these responses carry no virtual view; wrap the dataset with "
                "graphkd.data.TwoViews so each image is seen twice (the trainer does this "
                "for methods whose needs_virtual_view is set)"
            )
        return self.virtual


#: What a NaN or Inf in a network's responses usually needs.
UPSTREAM_FIX = "check the learning rate, the input normalisation and the loss scale (AMP) upstream"


def check_finite(tensors: Dict[str, Tensor], fix: str = UPSTREAM_FIX) -> None:
    """Raise a ``ValueError`` naming the first of ``tensors`` holding NaN or Inf, how many
    of its entries are bad, and ``fix``.

    One pass over each tensor and one host synchronisation for all of them: NaN and Inf
    propagate into the sum of the tensors' sums, so only a non-finite total (a bad entry,
    or finite entries whose sum overflows) leads to the exact entry-wise check.

    Example
    -------
    >>> check_finite({"logits": torch.zeros(2), "embedding": torch.tensor([1.0, float("inf")])})
    Traceback (most recent call last):
    ...
    ValueError: embedding contains NaN or Inf values (1 of 2 entries); check the learning rate, ...
    """
    if not tensors:
        return
    total = None
    for tensor in tensors.values():
        part = tensor.detach().sum(dtype=torch.float32)
        total = part if total is None else total + part
    if math.isfinite(float(total)):  # type: ignore[arg-type]
        return
    bad_entries = {name: int((~torch.isfinite(t.detach())).sum()) for name, t in tensors.items()}
    culprits = [name for name, bad in bad_entries.items() if bad]
    if not culprits:  # the sums overflowed, every entry is finite
        return
    culprit, bad = culprits[0], bad_entries[culprits[0]]
    raise ValueError(
        f"{culprit} contains NaN or Inf values ({bad} of {tensors[culprit].numel()} entries); {fix}"
    )
