"""Dense equivalents of the graph kernels for graphs whose edges form one full block.

A complete graph with self-loops, or a complete bipartite graph, has exactly the edges
``src_start + i -> dst_start + j`` for all ``i < num_src``, ``j < num_dst``, in
row-major order (:attr:`KnowledgeGraph.block`). On such graphs a gather/scatter kernel
is a broadcast, a matrix product or a reduction over one axis, which runs at dense
speed; results are identical to the sparse kernels. Each function here is the ``"dense"``
implementation of one :class:`~graphkd.ops.backend.Kernel`; the dispatcher
(:func:`~graphkd.ops.backend.select`) decides when it runs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphkd.knowledge_graph import KnowledgeGraph


def _ranges(graph: KnowledgeGraph):
    src_start, num_src, dst_start, num_dst = graph.block  # type: ignore[misc]
    return (
        slice(src_start, src_start + num_src),
        slice(dst_start, dst_start + num_dst),
        num_src,
        num_dst,
    )


def _grid(graph: KnowledgeGraph, efeat: Tensor) -> Tensor:
    """``(E, *)`` edge values as the ``(num_src, num_dst, *)`` grid of the block."""
    _, _, num_src, num_dst = _ranges(graph)
    return efeat.reshape(num_src, num_dst, *efeat.shape[1:])


def _rows(feat: Tensor, rows: slice) -> Tensor:
    """``feat[rows]``; ``feat`` itself when the range covers it (no slice for autograd)."""
    if rows.start == 0 and rows.stop == feat.shape[0]:
        return feat
    return feat[rows]


class _SelfGram(torch.autograd.Function):
    """``X X^T`` whose backward pass is one matrix product, ``(dG + dG^T) X``, instead of
    the two that autograd runs for a product of two separate operands."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x @ x.t()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        symmetric = grad + grad.t()  # under autocast in the product's lower precision
        return (symmetric @ x.to(symmetric.dtype)).to(x.dtype)


def self_gram(x: Tensor) -> Tensor:
    """``(N, N)`` Gram matrix ``X X^T`` of ``(N, D)`` rows, with a one-product backward."""
    if not x.requires_grad:
        return x @ x.t()
    return _SelfGram.apply(x)


def block_difference(graph: KnowledgeGraph, src_feat: Tensor, dst_feat: Tensor) -> Tensor:
    """``(E, *)`` ``x_u - y_v`` by broadcasting."""
    src, dst, num_src, num_dst = _ranges(graph)
    out = _rows(src_feat, src).unsqueeze(1) - _rows(dst_feat, dst).unsqueeze(0)
    return out.reshape(num_src * num_dst, *src_feat.shape[1:])


def block_dot(graph: KnowledgeGraph, src_feat: Tensor, dst_feat: Tensor) -> Tensor:
    """``(E, *)`` ``<x_u, y_v>`` over the last dim, as a (batched) matrix product."""
    src, dst, num_src, num_dst = _ranges(graph)
    left, right = _rows(src_feat, src), _rows(dst_feat, dst)
    if left.dim() == 2:
        product = self_gram(left) if left is right else left @ right.t()
        return product.reshape(-1)
    products = torch.einsum("u...d,v...d->uv...", left, right)
    return products.reshape(num_src * num_dst, *left.shape[1:-1])


def block_destination_feature(graph: KnowledgeGraph, feat: Tensor) -> Tensor:
    """``(E, *)`` ``x_v`` by broadcasting over the source axis."""
    _, dst, num_src, num_dst = _ranges(graph)
    grid = _rows(feat, dst).unsqueeze(0).expand(num_src, num_dst, *feat.shape[1:])
    return grid.reshape(num_src * num_dst, *feat.shape[1:])


def block_divide_by_destination(graph: KnowledgeGraph, efeat: Tensor, feat: Tensor) -> Tensor:
    """``(E, *)`` ``e_uv / x_v`` as one broadcast division over the source axis."""
    _, dst, _, _ = _ranges(graph)
    return (_grid(graph, efeat) / _rows(feat, dst).unsqueeze(0)).reshape(efeat.shape)


class _NormalizeColumns(torch.autograd.Function):
    """``G / max(||G_{:,v}||, eps)`` column by column, with the compact backward pass
    ``(dY - Y * sum_u(dY * Y)) / n_v`` (no gradient through a norm clamped at ``eps``)."""

    @staticmethod
    def forward(ctx, grid: Tensor, eps: float) -> Tensor:  # type: ignore[override]
        squared = (grid * grid).sum(0, keepdim=True)  # a strided vector_norm is slow
        through = squared >= eps * eps
        norm = squared.clamp_min(eps * eps).sqrt()
        unit = grid / norm
        ctx.save_for_backward(unit, norm, through)
        return unit

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        unit, norm, through = ctx.saved_tensors
        along = (grad * unit).sum(0, keepdim=True) * through
        return torch.addcmul(grad, unit, along, value=-1.0).div_(norm), None


def block_normalize_incoming(graph: KnowledgeGraph, efeat: Tensor, eps: float) -> Tensor:
    """``(E, *)`` ``e_uv / max(||e_{:,v}||, eps)``: column norms over the source axis."""
    return _NormalizeColumns.apply(_grid(graph, efeat), eps).reshape(efeat.shape)


def block_softmax(graph: KnowledgeGraph, scores: Tensor, log: bool = False) -> Tensor:
    """Softmax (``log``: log-softmax) over each destination's incoming edges: over the
    source axis."""
    normalise = torch.log_softmax if log else torch.softmax
    return normalise(_grid(graph, scores), dim=0).reshape(scores.shape)


def block_neighbour_sum(graph: KnowledgeGraph, feat: Tensor) -> Tensor:
    """Every destination in the block receives the sum of all source features."""
    src, dst, _, num_dst = _ranges(graph)
    total = _rows(feat, src).sum(0, keepdim=True).expand(num_dst, *feat.shape[1:])
    return _place_destinations(graph, dst, total)


def block_incoming_edge_sum(graph: KnowledgeGraph, efeat: Tensor) -> Tensor:
    """Sum of edge features over the source axis, placed at the destinations."""
    return _place_destinations(graph, _ranges(graph)[1], _grid(graph, efeat).sum(0))


def block_incoming_edge_max(graph: KnowledgeGraph, efeat: Tensor) -> Tensor:
    """Maximum of edge features over the source axis, placed at the destinations."""
    return _place_destinations(graph, _ranges(graph)[1], _grid(graph, efeat).amax(0))


def _place_destinations(graph: KnowledgeGraph, dst: slice, values: Tensor) -> Tensor:
    """``(N, *)``: ``values`` at the destination range, zeros at the other nodes."""
    if dst.start == 0 and dst.stop == graph.num_nodes:
        return values.contiguous()
    shape = values.shape[1:]
    before = values.new_zeros((dst.start, *shape))
    after = values.new_zeros((graph.num_nodes - dst.stop, *shape))
    return torch.cat([before, values, after])
