"""Relational graphs over the global batch under data parallelism.

With ``method.graph_batch: global`` every rank builds its graphs over the samples of all
ranks: each tensor of the Responses is all-gathered, and the rank's own slice is put back
as the original tensor, so gradients flow into the local part only. Every rank then
computes the same global loss :math:`\\mathcal{L}(R_{1..W})`.

Two kinds of parameters receive its gradient. The student's reach the loss only through
the rank's own slice :math:`R_r`, so each rank sees :math:`\\partial \\mathcal{L} /
\\partial R_r` alone; the gather multiplies that gradient by :math:`W`, and DDP's average
over the ranks becomes the sum over all slices. A method's own parameters (embedding
heads, attention networks) act on every row of the gathered batch, so each rank already
holds their whole gradient, and the average keeps it. Both equal the single-process
gradient of the concatenated batch; the loss itself is not scaled.

A method's ``after_step`` receives the rank's own responses, as with local graphs.

Example
-------
>>> import torch
>>> from graphkd import Responses
>>> from graphkd.engine.distributed import DistributedContext
>>> single = DistributedContext(0, 1, torch.device("cpu"))
>>> gather_responses(Responses(torch.zeros(4, 3)), single).batch_size
4
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.distributed as dist
from torch import Tensor

from graphkd.engine.distributed import DistributedContext
from graphkd.responses import Responses

GRAPH_BATCHES = ("local", "global")


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by ``scale``."""

    @staticmethod
    def forward(ctx, tensor: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        ctx.scale = scale
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return grad * ctx.scale, None


def gather_with_local_gradient(tensor: Tensor, context: DistributedContext) -> Tensor:
    """``(W B, ...)``: ``tensor`` from every rank, by rank; only this rank's slice has gradient.

    The gradient into the slice is multiplied by :math:`W` (see the module's text). All
    ranks must hold tensors of the same shape.
    """
    if not context.active:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(context.world_size)]
    dist.all_gather(parts, tensor.detach().contiguous())
    own = tensor
    if tensor.requires_grad:
        own = _ScaleGradient.apply(tensor, float(context.world_size))
    parts[context.rank] = own
    return torch.cat(parts)


def gather_responses(
    responses: Optional[Responses], context: DistributedContext
) -> Optional[Responses]:
    """The Responses of the global batch (see :func:`gather_with_local_gradient`)."""
    if responses is None or not context.active:
        return responses

    def gather(value: Optional[Tensor]) -> Optional[Tensor]:
        return None if value is None else gather_with_local_gradient(value, context)

    return Responses(
        logits=gather(responses.logits),
        embedding=gather(responses.embedding),
        features={k: gather(v) for k, v in responses.features.items()},
        index=gather(responses.index),
        labels=gather(responses.labels),
        virtual=gather_responses(responses.virtual, context),
    )
