"""Relational graphs over the global batch under data parallelism.

With ``method.graph_batch: global`` every rank builds its graphs over the samples of all
ranks: each tensor of the Responses is all-gathered, and the rank's own slice is put back
as the original tensor, so gradients flow into the local part only. Every rank then
computes the same global loss :math:`\\mathcal{L}(R_{1..W})`; each rank's backward gives
the gradient through its own samples, and DDP averages over the :math:`W` ranks, so the
loss is scaled by :math:`W` to give exactly the single-process gradient of the
concatenated batch.

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


def gather_with_local_gradient(tensor: Tensor, context: DistributedContext) -> Tensor:
    """``(W B, ...)``: ``tensor`` from every rank, by rank; only this rank's slice has gradient.

    All ranks must hold tensors of the same shape.
    """
    if not context.active:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(context.world_size)]
    dist.all_gather(parts, tensor.detach().contiguous())
    parts[context.rank] = tensor
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
