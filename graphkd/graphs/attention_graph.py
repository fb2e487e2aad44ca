"""Multi-head attention between the samples of two layers: MHGD's attention graph."""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops import edge_dot, edge_softmax, incoming_edge_sum
from graphkd.ops.backend import uses_dense_block


def variance_scaling_fan_out_(weight: Tensor, factor: float = 2.0) -> Tensor:
    r"""Fill a linear weight ``(out_feats, in_feats)`` in place as TensorFlow's
    ``variance_scaling_initializer(factor, mode="FAN_OUT")`` (truncated normal).

    Entries are drawn from :math:`\mathcal{N}(0, s^2)` truncated to :math:`[-2s, 2s]`,

    .. math::
        s = \sqrt{1.3\, \mathrm{factor} / \mathrm{out\_feats}},

    so that their standard deviation is about :math:`\sqrt{\mathrm{factor} /
    \mathrm{out\_feats}}` (the truncation keeps 0.774 of the variance). MHGD's
    attention networks start from it (factor 2).

    Example
    -------
    >>> weight = variance_scaling_fan_out_(torch.empty(800, 3))
    >>> bool(weight.abs().max() <= 2 * (1.3 * 2.0 / 800) ** 0.5)
    True
    """
    scale = math.sqrt(1.3 * factor / weight.shape[0])
    return nn.init.trunc_normal_(weight, 0.0, scale, -2 * scale, 2 * scale)


class MultiHeadAttentionGraph(nn.Module):
    r"""Multi-head attention from the samples at a front layer to those at a back layer.

    The attention network of MHGD (Lee & Song, BMVC 2019). Samples are nodes: the
    ``B_F`` front nodes (embeddings :math:`V_F`) send edges to the ``B_K`` back nodes
    (embeddings :math:`V_K`), usually all of them
    (:func:`~graphkd.graphs.bipartite_graph`). Each edge :math:`j \to i` carries one
    score per head,

    .. math::
        S_h[i, j] = \big\langle \theta_h(V_{K,i}),\ \phi_h(V_{F,j}) \big\rangle,
        \qquad \theta = \mathrm{BN} \circ W_\theta,\quad \phi = \mathrm{BN} \circ W_\phi,

    with bias-free linear maps to ``heads`` blocks of width :math:`D_2` and no
    :math:`1/\sqrt{D_2}` scaling (:meth:`forward`). :meth:`estimate` predicts the back
    embeddings from the front ones through the edge softmax :math:`A_h` at each back node:

    .. math::
        A_h[i, j] = \frac{\exp S_h[i, j]}{\sum_{j'} \exp S_h[i, j']}, \qquad
        f_1 = \mathrm{ReLU}(\mathrm{BN}(W_1 V_F)), \qquad
        \hat V_{K,i} = \frac{W_o\, [\,m_{i,h} \textstyle\sum_j A_h[i, j]\, f_1(V_{F,j})\,]_h
            + b_o}{\|\cdot\|_2}

    where :math:`[\cdot]_h` concatenates the heads and :math:`m_{i,h}` is the head drop
    (training only): per back sample, draw :math:`n \sim \mathcal{N}(0, I_H)` and keep
    head :math:`h` when :math:`n_h > \frac{1}{H} \sum_{h'} n_{h'}` (about half the heads,
    no rescaling).

    Parameters
    ----------
    front_feats : int
        :math:`D_F`, width of the front embeddings.
    back_feats : int
        :math:`D_K`, width of the back embeddings.
    num_heads : int
        :math:`H` (default 8).
    hidden_feats : int, optional
        :math:`D_2`, the width of each head (default ``(front_feats + back_feats) // 2``,
        not divided by the number of heads).
    head_drop : bool
        Drop heads per sample in :meth:`estimate` while training (default ``True``).

    Example
    -------
    >>> import torch
    >>> from graphkd.graphs import bipartite_graph
    >>> attention = MultiHeadAttentionGraph(16, 32, num_heads=4)
    >>> front, back = torch.randn(6, 16), torch.randn(6, 32)
    >>> graph = bipartite_graph(6, 6)
    >>> attention(graph, front, back).shape, attention.estimate(graph, front, back).shape
    (torch.Size([36, 4]), torch.Size([6, 32]))
    """

    def __init__(
        self,
        front_feats: int,
        back_feats: int,
        num_heads: int = 8,
        hidden_feats: Optional[int] = None,
        head_drop: bool = True,
    ) -> None:
        super().__init__()
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}")
        self.front_feats = front_feats
        self.back_feats = back_feats
        self.num_heads = num_heads
        self.hidden_feats = (
            (front_feats + back_feats) // 2 if hidden_feats is None else hidden_feats
        )
        self.head_drop = head_drop
        width = num_heads * self.hidden_feats
        self.theta = nn.Sequential(nn.Linear(back_feats, width, bias=False), nn.BatchNorm1d(width))
        self.phi = nn.Sequential(nn.Linear(front_feats, width, bias=False), nn.BatchNorm1d(width))
        self.value = nn.Sequential(
            nn.Linear(front_feats, self.hidden_feats, bias=False),
            nn.BatchNorm1d(self.hidden_feats),
            nn.ReLU(),
        )
        self.out = nn.Linear(width, back_feats)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Re-initialise as MHGD's reference implementation: every linear weight from
        :func:`variance_scaling_fan_out_`, identity batch norms (running statistics
        cleared) and a zero output bias."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                variance_scaling_fan_out_(module.weight)
            elif isinstance(module, nn.BatchNorm1d):
                module.reset_parameters()
        nn.init.zeros_(self.out.bias)

    def _check(self, graph: KnowledgeGraph, front: Tensor, back: Tensor) -> None:
        for name, feat, width in (
            ("front", front, self.front_feats),
            ("back", back, self.back_feats),
        ):
            if feat.dim() != 2 or feat.shape[1] != width:
                raise ValueError(
                    f"MultiHeadAttentionGraph expects {name} embeddings of shape (B, {width}), "
                    f"got {tuple(feat.shape)}; pass one row of width {width} per sample"
                )
        num_front, num_back = front.shape[0], back.shape[0]
        fix = f"build it with bipartite_graph({num_front}, {num_back}) (front nodes first)"
        if graph.num_nodes != num_front + num_back:
            raise ValueError(
                f"the graph has {graph.num_nodes} nodes but there are {num_front} front "
                f"and {num_back} back samples; {fix}"
            )
        if graph.block is not None:
            bipartite = graph.block == (0, num_front, num_front, num_back)
        else:
            bipartite = graph.num_edges == 0 or bool(
                (graph.src.max() < num_front) & (graph.dst.min() >= num_front)
            )
        if not bipartite:
            raise ValueError(f"the graph's edges must all run from front to back nodes; {fix}")

    def forward(self, graph: KnowledgeGraph, front: Tensor, back: Tensor) -> Tensor:
        """The scores :math:`S_h` on the edges of ``graph``.

        Parameters
        ----------
        graph : KnowledgeGraph
            Nodes ``0 .. B_F - 1`` are the front samples, ``B_F .. B_F + B_K - 1`` the
            back samples; edges run front -> back.
        front : Tensor
            ``(B_F, front_feats)`` embeddings :math:`V_F`.
        back : Tensor
            ``(B_K, back_feats)`` embeddings :math:`V_K`.

        Returns
        -------
        Tensor
            ``(E, num_heads)``; on :func:`~graphkd.graphs.bipartite_graph` edge
            ``j * B_K + i`` holds :math:`S_h[i, j]`.
        """
        self._check(graph, front, back)
        heads = (self.num_heads, self.hidden_feats)
        nodes = torch.cat([self.phi(front).view(-1, *heads), self.theta(back).view(-1, *heads)])
        return edge_dot(graph, nodes, nodes)

    def estimate(self, graph: KnowledgeGraph, front: Tensor, back: Tensor) -> Tensor:
        """The predicted back embeddings :math:`\\hat V_K`, ``(B_K, back_feats)``, unit rows.

        Inputs as in :meth:`forward`. Heads are dropped per sample while training when
        ``head_drop`` is on.
        """
        attention = edge_softmax(graph, self(graph, front, back))
        value = self.value(front)
        num_front = front.shape[0]
        if uses_dense_block(graph):
            grid = attention.view(num_front, back.shape[0], self.num_heads)
            mixed = torch.einsum("jih,jd->ihd", grid, value)
        else:
            padded = F.pad(value, (0, 0, 0, back.shape[0]))
            messages = attention.unsqueeze(-1) * padded.index_select(0, graph.src).unsqueeze(1)
            mixed = incoming_edge_sum(graph, messages)[num_front:]
        if self.training and self.head_drop:
            noise = torch.randn(back.shape[0], self.num_heads, device=back.device)
            keep = noise > noise.mean(1, keepdim=True)
            mixed = mixed * keep.unsqueeze(-1).to(mixed.dtype)
        return F.normalize(self.out(mixed.flatten(1)), dim=-1)

    def extra_repr(self) -> str:
        return (
            f"front_feats={self.front_feats}, back_feats={self.back_feats}, "
            f"num_heads={self.num_heads}, hidden_feats={self.hidden_feats}, "
            f"head_drop={self.head_drop}"
        )
