"""A one-hop TAGConv layer over a knowledge graph, L2-normalised: HKD's graph encoder."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkd._dgl import dgl
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops import neighbour_sum
from graphkd.ops.backend import use_dgl_kernels


class TAGConvEncoder(nn.Module):
    r"""Topology adaptive graph convolution with one hop, then L2 normalisation.

    The graph encoder of HKD (Zhou et al., ICCV 2021), built on DGL's
    :class:`dgl.nn.TAGConv` (Du et al. 2017) with ``k=1``:

    .. math::
        \tilde h_i = W \Big[\, h_i \ ;\ \sum_{j \to i}
            \frac{h_j}{\sqrt{d_j}\,\sqrt{d_i}} \,\Big] + b, \qquad
        h'_i = \frac{\tilde h_i}{\|\tilde h_i\|_2}

    where :math:`d_i` is the **in-degree** of node :math:`i` (clamped to at least 1).
    DGL normalises both ends of an edge by in-degrees, so the out-degrees of a directed
    graph play no part. On a kNN graph every node has in-degree :math:`k`, and the sum
    is exactly the mean of the :math:`k` in-neighbours:

    .. math::
        \tilde h_i = W \Big[\, h_i \ ;\ \frac{1}{k} \sum_{j \in \mathrm{kNN}(i)} h_j \,\Big] + b

    Where the installed DGL can hold graphs on the features' device (see
    :func:`graphkd.ops.dgl_supports`), DGL's layer runs on the graph's ``topology``;
    elsewhere (e.g. CUDA tensors with the CPU build of DGL) the same formula is computed
    with :func:`graphkd.ops.neighbour_sum`. Both use the same weights and give the same
    result. Nothing is left on the caller's graph.

    Parameters
    ----------
    in_feats : int
        Width of the node features :math:`h` (128 in HKD).
    out_feats : int
        Width of the output (128 in HKD).
    bias : bool
        Learn :math:`b` (default ``True``).
    normalise : bool
        L2-normalise the output rows (default ``True``).

    Example
    -------
    >>> import torch
    >>> from graphkd.graphs import knn_graph
    >>> x = torch.randn(10, 16)
    >>> encoder = TAGConvEncoder(16, 16)
    >>> encoder(knn_graph(x, k=4), x).shape
    torch.Size([10, 16])
    """

    def __init__(
        self, in_feats: int, out_feats: int, bias: bool = True, normalise: bool = True
    ) -> None:
        super().__init__()
        self.in_feats = in_feats
        self.out_feats = out_feats
        self.normalise = normalise
        self.conv = dgl.nn.TAGConv(in_feats, out_feats, k=1, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise: DGL's Xavier-normal weight, and the bias as ``nn.Linear`` draws it."""
        self.conv.reset_parameters()
        bias = self.conv.lin.bias
        if bias is not None:
            bound = 1.0 / math.sqrt(self.conv.lin.in_features)
            nn.init.uniform_(bias, -bound, bound)

    def forward(self, graph: KnowledgeGraph, feat: Tensor) -> Tensor:
        """``(N, in_feats) -> (N, out_feats)`` over the ``N`` nodes of ``graph``."""
        if feat.dim() != 2 or feat.shape != (graph.num_nodes, self.in_feats):
            raise ValueError(
                f"TAGConvEncoder expects node features of shape ({graph.num_nodes}, "
                f"{self.in_feats}) for this graph, got {tuple(feat.shape)}; pass one row of "
                f"width {self.in_feats} per node"
            )
        if use_dgl_kernels(feat.device):
            out = self.conv(graph.topology, feat)
        else:
            scale = graph.in_degrees().clamp(min=1).to(feat.dtype).rsqrt().unsqueeze(1)
            hop = neighbour_sum(graph, feat * scale) * scale
            out = self.conv.lin(torch.cat([feat, hop], dim=1))
        return F.normalize(out, dim=1) if self.normalise else out

    def extra_repr(self) -> str:
        return f"in_feats={self.in_feats}, out_feats={self.out_feats}, normalise={self.normalise}"
