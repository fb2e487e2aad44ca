"""NST (Huang & Wang, 2017): match the distributions of neuron selectivity patterns by MMD.

Everything the method computes lives here: the channel kernel graphs and the MMD read
off their edges, the same MMD from Gram matrices (:func:`polynomial_mmd`), the distiller
with its two exact computations (the Gram rewrite :data:`MMD`, chosen by
:mod:`graphkd.ops`, and the graphs), and the preset.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.base import Distiller
from graphkd.distill.inputs import pool_to_smaller
from graphkd.distill.method_registry import METHODS, preset
from graphkd.distill.stage_pairs import paired_maps, resolve_pairs, term_name
from graphkd.graphs import complete_graph
from graphkd.graphs.views import bipartite_graph
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.ops import edge_dot
from graphkd.ops.gram import GramRewrite, check_path
from graphkd.responses import Responses


def selectivity(features: Tensor) -> Tensor:
    r"""``(B, C, H W)``: each channel's spatial response, L2-normalised over positions
    (zero responses stay zero)."""
    return F.normalize(features.flatten(2), dim=2)


def polynomial_mmd(student: Tensor, teacher: Tensor) -> Tensor:
    r"""Squared MMD with the kernel :math:`k(x, y) = (x^\top y)^2` between the channel
    responses of each sample, averaged over the samples, from Gram matrices.

    Every kernel value is a squared entry of a per-sample Gram matrix
    (:math:`T_i T_i^\top`, :math:`S_i S_i^\top`, :math:`S_i T_i^\top`), so the three
    edge means of :func:`graph_mmd` are means of squared Gram entries:

    .. math::
        \frac{1}{B}\sum_i \Big[\frac{1}{C_t^2}\sum_{a, a'} k(t_{ia}, t_{ia'})
            + \frac{1}{C_s^2}\sum_{b, b'} k(s_{ib}, s_{ib'})
            - \frac{2}{C_s C_t}\sum_{b, a} k(s_{ib}, t_{ia})\Big]

    Parameters
    ----------
    student, teacher : Tensor
        ``(B, C_s, P)`` and ``(B, C_t, P)`` normalised responses (:func:`selectivity`).

    Example
    -------
    >>> x = selectivity(torch.rand(2, 4, 3, 3))
    >>> float(polynomial_mmd(x, x))
    0.0
    """
    within_t = (teacher @ teacher.transpose(1, 2)).square().mean()
    within_s = (student @ student.transpose(1, 2)).square().mean()
    across = (student @ teacher.transpose(1, 2)).square().mean()
    return within_t + within_s - 2.0 * across


def channel_graphs(student: Tensor, teacher: Tensor) -> Tuple[KnowledgeGraph, KnowledgeGraph]:
    r"""The kernel graphs of one stage pair, built explicitly.

    The teacher graph has the teacher's :math:`C_t` channels of each sample as nodes,
    joined by a complete graph with self-loops; the student graph has each sample's
    :math:`C_s` student channels followed by its :math:`C_t` teacher channels, joined by
    a complete graph with self-loops among the student channels and by every edge from a
    student channel to a teacher channel (``edata["cross"]``). Nodes carry their
    normalised spatial responses (``ndata["response"]``), edges the kernel
    :math:`(x_u^\top x_v)^2` (``edata["kernel"]``).

    Parameters
    ----------
    student, teacher : Tensor
        ``(B, C_s, P)`` and ``(B, C_t, P)`` normalised responses.

    Returns
    -------
    tuple of KnowledgeGraph
        ``(teacher graph, student graph)``, each batched over the ``B`` samples.
    """
    batch, c_s, c_t = student.shape[0], student.shape[1], teacher.shape[1]
    device = student.device
    within_t = complete_graph(c_t, device=device)
    teacher_graph = KnowledgeGraph.batch([within_t] * batch)
    units = teacher.reshape(batch * c_t, -1)
    teacher_graph.ndata["response"] = units
    teacher_graph.edata["kernel"] = edge_dot(teacher_graph, units).square()

    within_s, across = complete_graph(c_s, device=device), bipartite_graph(c_s, c_t, device)
    one = KnowledgeGraph(
        torch.cat([within_s.src, across.src]),
        torch.cat([within_s.dst, across.dst]),
        c_s + c_t,
        edata={
            "cross": torch.cat(
                [
                    torch.zeros(within_s.num_edges, dtype=torch.bool, device=device),
                    torch.ones(across.num_edges, dtype=torch.bool, device=device),
                ]
            )
        },
    )
    student_graph = KnowledgeGraph.batch([one] * batch)
    joint = torch.cat([student, teacher], dim=1).reshape(batch * (c_s + c_t), -1)
    student_graph.ndata["response"] = joint
    student_graph.edata["kernel"] = edge_dot(student_graph, joint).square()
    return teacher_graph, student_graph


def graph_mmd(teacher_graph: KnowledgeGraph, student_graph: KnowledgeGraph) -> Tensor:
    """The squared MMD read off :func:`channel_graphs`: the mean kernel of the teacher's
    edges plus that of the student's own edges minus twice that of the cross edges."""
    cross = student_graph.edata["cross"]
    kernel = student_graph.edata["kernel"]
    return teacher_graph.edata["kernel"].mean() + kernel[~cross].mean() - 2.0 * kernel[cross].mean()


class NSTDistiller(Distiller):
    r"""Neuron selectivity transfer (Huang & Wang, 2017) on channel kernel graphs.

    For each stage pair :math:`j` (the taller map average-pooled to the other's size),
    every channel of a sample is a node holding its spatial response normalised to unit
    length; kernel edges :math:`k(x, y) = (x^\top y)^2` join the teacher's channels among
    themselves, the student's among themselves, and every student channel to every
    teacher channel (:func:`channel_graphs`). The loss is the squared maximum mean
    discrepancy between the two sets of channel responses, read off those three edge
    sets:

    .. math::
        \mathcal{L} = w \sum_j \Big[\overline{k}_{tt} + \overline{k}_{ss}
            - 2\,\overline{k}_{st}\Big]_j

    (:math:`\overline{k}` the mean kernel over an edge set and the batch). Two exact
    computations of the same loss, the Gram rewrite :data:`MMD`
    (:class:`~graphkd.ops.gram.GramRewrite`):

    * the graphs (:meth:`graph_losses`): :meth:`build_graphs` puts the kernel on every
      edge through :func:`graphkd.ops.edge_dot` (``B (C_t^2 + C_s^2 + C_s C_t)`` edges)
      and :func:`graph_mmd` reads the three means off them;
    * the rewrite (:meth:`gram_losses`): :func:`polynomial_mmd`, the three means as
      squared entries of batched Gram matrices, with no graph built.

    With ``path="gram"`` (the default, ``"auto"``) the dispatcher of :mod:`graphkd.ops`
    runs the rewrite under the ``"auto"`` backend and the graphs under ``"dgl"`` or
    ``"torch"``, whose kernels then compute the edges; ``path="explicit"`` always runs
    the graphs.

    Parameters
    ----------
    teacher_channels, student_channels, teacher_features, student_features, ce_weight, check_inputs
        As for a :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`, the pairs
        chosen by :func:`~graphkd.distill.stage_pairs.resolve_pairs`. NST lists these
        options itself: it compares no graph fields term by term (a
        :class:`~graphkd.GraphMatchingDistiller` matches at least one term), so it is a
        plain :class:`~graphkd.distill.Distiller`.
    weight : float
        :math:`w` (50).
    path : str
        ``"auto"`` (same as ``"gram"``), ``"gram"`` or ``"explicit"``; the attribute
        ``path`` holds the resolved choice and may be changed later.

    Example
    -------
    >>> distiller = NSTDistiller(teacher_features=["layer1"], student_features=["layer1"])
    >>> def responses():
    ...     return Responses(torch.randn(4, 10), features={"layer1": torch.rand(4, 8, 4, 4)})
    >>> sorted(distiller(responses(), responses()))
    ['loss', 'nst_layer1']
    """

    def __init__(
        self,
        teacher_channels: Optional[Dict[str, int]] = None,
        student_channels: Optional[Dict[str, int]] = None,
        teacher_features: Optional[Sequence[str]] = None,
        student_features: Optional[Sequence[str]] = None,
        weight: float = 50.0,
        ce_weight: float = 1.0,
        path: str = "auto",
        check_inputs: bool = True,
    ) -> None:
        check_path("nst", path)
        super().__init__()
        self.teacher_features, self.student_features = resolve_pairs(
            "nst", teacher_channels, student_channels, teacher_features, student_features
        )
        self.names = [term_name("nst", name) for name in self.teacher_features]
        self.weight = weight
        self.path = "explicit" if path == "explicit" else "gram"
        self.ce_weight = ce_weight
        self.check_inputs = check_inputs

    def _responses(self, teacher: Responses, student: Responses) -> List[Tuple[Tensor, Tensor]]:
        pairs = paired_maps(
            teacher, student, self.teacher_features, self.student_features, "nst", self.check_inputs
        )
        out = []
        for s_map, t_map in pairs:
            s_map, t_map = pool_to_smaller(s_map, t_map)
            out.append((selectivity(s_map), selectivity(t_map)))
        return out

    def gram_losses(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """The unweighted MMD of each stage pair by the Gram rewrite (:func:`polynomial_mmd`)."""
        pairs = self._responses(teacher, student)
        return {name: polynomial_mmd(s, t) for name, (s, t) in zip(self.names, pairs)}

    def graph_losses(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """The unweighted MMD of each stage pair on the explicit kernel graphs
        (:func:`graph_mmd` of :meth:`build_graphs`)."""
        teacher_graphs, student_graphs = self.build_graphs(teacher, student)
        return {name: graph_mmd(teacher_graphs[name], student_graphs[name]) for name in self.names}

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        values = MMD(self.path, student.logits.device, self, teacher, student)
        total = self.weight * torch.stack(list(values.values())).sum()
        return {"loss": total, **values}

    def build_graphs(
        self, teacher: Responses, student: Responses
    ) -> Tuple[Dict[str, KnowledgeGraph], Dict[str, KnowledgeGraph]]:
        """Per stage pair (keyed ``"nst_<teacher feature>"``), the teacher's and the
        student's channel kernel graphs (:func:`channel_graphs`); the loss term of a pair
        is :func:`graph_mmd` of its two graphs."""
        teacher_graphs, student_graphs = {}, {}
        for name, (s, t) in zip(self.names, self._responses(teacher, student)):
            teacher_graphs[name], student_graphs[name] = channel_graphs(s, t)
        return teacher_graphs, student_graphs


#: NST's Gram rewrite: :meth:`NSTDistiller.gram_losses` for :meth:`NSTDistiller.graph_losses`.
MMD = GramRewrite("nst", NSTDistiller.gram_losses, NSTDistiller.graph_losses)


@METHODS.register("nst")
@preset(NSTDistiller)
def nst() -> NSTDistiller:
    r"""Neuron selectivity transfer (Huang & Wang, 2017), mdistiller's settings.

    .. math::
        \mathcal{L} = w \sum_j \Big[\overline{k}_{tt} + \overline{k}_{ss}
            - 2\,\overline{k}_{st}\Big]_j, \qquad k(x, y) = (x^\top y)^2

    over the unit-normalised spatial responses of the channels of each paired stage
    (see :class:`NSTDistiller`; by default the three means come from Gram matrices,
    the Gram rewrite :data:`MMD`).

    Parameters
    ----------
    teacher_channels, student_channels, teacher_features, student_features
        The paired stage outputs, as :func:`~graphkd.distill.stage_pairs.resolve_pairs`
        chooses them. For VGGs name ``["relu1", "relu2", "relu3", "relu4"]`` (the
        reference's stages after the stem).
    weight : float
        50.
    ce_weight : float
        1.
    path : str
        ``"auto"`` or ``"gram"`` (the means from Gram matrices wherever the dispatcher
        picks dense implementations), ``"explicit"`` (the kernel graphs built).

    Example
    -------
    >>> channels = {"layer1": 64, "layer2": 128, "layer3": 256}
    >>> distiller = nst(teacher_channels=channels, student_channels=channels)
    >>> distiller.names, distiller.weight
    (['nst_layer1', 'nst_layer2', 'nst_layer3'], 50.0)
    """
