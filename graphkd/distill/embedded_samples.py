"""Samples as isolated nodes holding a trainable linear embedding of one network (CC, CRD)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from graphkd.distill.inputs import embedding_of
from graphkd.graphs.projector import Projector
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses


class EmbeddedSamples(nn.Module):
    r"""Samples as isolated nodes holding a trainable linear embedding of a network's
    features, L2-normalised or not.

    .. math::
        e_i = W f_i + b \in \mathbb{R}^{d}, \qquad
        e_i \leftarrow \frac{e_i}{\|e_i\|_2} \ \text{with} \ \texttt{normalise}

    with :math:`f_i` the pooled embedding (or the tapped ``feature``, flattened). The
    graph has no edges: the method relates the nodes through its metric (CC's
    consecutive samples, CRD's memory banks).

    Parameters
    ----------
    dim : int
        Width of :math:`f`.
    embed_dim : int
        :math:`d` (128).
    normalise : bool
        L2-normalise :math:`e` (CRD; default ``False``, CC).
    feature : str, optional
        A tapped feature instead of the pooled embedding.
    detach : bool
        Read the responses without gradient (the teacher's side; its head still trains).

    Returns (forward)
    -----------------
    KnowledgeGraph
        ``B`` nodes, no edges, ``ndata["embed"]`` ``(B, embed_dim)`` and
        ``ndata["logits"]`` ``(B, C)``.

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> head = EmbeddedSamples(dim=32, embed_dim=8, normalise=True)
    >>> graph = head(Responses(torch.randn(4, 10), embedding=torch.randn(4, 32)))
    >>> embed = graph.ndata["embed"]
    >>> graph.num_edges, tuple(embed.shape), bool(torch.allclose(embed.norm(dim=1), torch.ones(4)))
    (0, (4, 8), True)
    """

    def __init__(
        self,
        dim: int,
        embed_dim: int = 128,
        normalise: bool = False,
        feature: Optional[str] = None,
        detach: bool = False,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.feature = feature
        self.detach = detach
        self.embed = Projector(dim, embed_dim, bias=True, normalise=normalise)

    def reset_parameters(self) -> None:
        """Re-initialise the linear head."""
        self.embed.reset_parameters()

    def forward(self, responses: Responses) -> KnowledgeGraph:
        if self.detach:
            responses = responses.detach()
        features = embedding_of(responses, self.feature)
        if features.shape[1] != self.dim:
            raise ValueError(
                f"the features have width {features.shape[1]} but this embedding head was built "
                f"for width {self.dim}; pass teacher_dim / student_dim = the networks' widths"
            )
        none = torch.empty(0, dtype=torch.long, device=features.device)
        ndata = {"embed": self.embed(features), "logits": responses.logits}
        return KnowledgeGraph(none, none, responses.batch_size, ndata=ndata)
