"""FSP (Yim et al., CVPR 2017): match the flow between consecutive stages, as a warm start."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.base import GradientStep, add_gradients
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset, written_for
from graphkd.distill.stage_pairs import ChannelPairDistiller, StagePairs, consecutive_term_names
from graphkd.graphs.views import bipartite_graph
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses


def fsp_matrix(bottom: Tensor, top: Tensor) -> Tensor:
    r"""The flow of solution procedure between two maps of each sample.

    .. math::
        G_{ab} = \frac{1}{HW} \sum_{h, w} F^{bot}_{a, hw}\, F^{top}_{b, hw}

    after the map with the greater height is average-pooled to the other's size.

    Parameters
    ----------
    bottom, top : Tensor
        ``(B, C_1, H_1, W_1)`` and ``(B, C_2, H_2, W_2)``.

    Returns
    -------
    Tensor
        ``(B, C_1, C_2)``.

    Example
    -------
    >>> g = fsp_matrix(torch.ones(2, 3, 8, 8), torch.ones(2, 5, 4, 4))
    >>> tuple(g.shape), float(g[0, 0, 0])
    ((2, 3, 5), 1.0)
    """
    if bottom.shape[2] > top.shape[2]:
        bottom = F.adaptive_avg_pool2d(bottom, (top.shape[2], top.shape[3]))
    elif bottom.shape[2] < top.shape[2]:
        top = F.adaptive_avg_pool2d(top, (bottom.shape[2], bottom.shape[3]))
    bottom, top = bottom.flatten(2), top.flatten(2)
    return bottom @ top.transpose(1, 2) / bottom.shape[2]


@lru_cache(maxsize=16)
def _flow_topology(batch: int, bottom: int, top: int, device: torch.device) -> KnowledgeGraph:
    return KnowledgeGraph.batch([bipartite_graph(bottom, top, device)] * batch)


def flow_graph(
    matrix: Tensor, like: Optional[KnowledgeGraph] = None, field: str = "fsp"
) -> KnowledgeGraph:
    r"""The bipartite graph of per-sample matrices ``(B, C_1, C_2, *)``: per sample, an
    edge from each of the :math:`C_1` nodes of the lower stage (its channels) to each of
    the :math:`C_2` nodes of the upper one, carrying entry :math:`(a, b)`
    (``edata[field]``, ``(B C_1 C_2, *)``, row-major); with ``like`` the graph shares its
    topology."""
    batch, bottom, top = matrix.shape[:3]
    if like is None:
        graph = _flow_topology(batch, bottom, top, matrix.device).same_topology()
    else:
        graph = like.same_topology()
    graph.edata[field] = matrix.reshape(batch * bottom * top, *matrix.shape[3:])
    return graph


class FSPDistiller(ChannelPairDistiller):
    r"""Flow of solution procedure (Yim et al., CVPR 2017) on bipartite channel graphs.

    For each pair of consecutive stage outputs :math:`(k, k+1)` of a network, the FSP
    matrix :func:`fsp_matrix` is the edge field of a complete bipartite graph from the
    :math:`C_k` channels to the :math:`C_{k+1}` channels of each sample
    (:func:`flow_graph`). Teacher and student graphs share their topology (paired stages
    must have equal channel counts), and each stage pair is an edge term with the
    ``"mse"`` metric:

    .. math::
        \mathcal{L}_{fsp} = \sum_k \frac{1}{B\, C_k C_{k+1}}
            \big\|G^s_{k} - G^t_{k}\big\|_F^2

    summed over samples. ``forward`` returns it unweighted as ``"loss"``; the trainer's
    gradient follows the reference's two phases (:meth:`combine_gradients`): for the
    first ``init_epochs`` epochs the student trains on :math:`w\,\mathcal{L}_{fsp}`
    alone (the reference's initialisation stage, no cross-entropy), then on
    :math:`w_{ce}\,\mathcal{L}_{ce} + w'\,\mathcal{L}_{fsp}` (the reference: :math:`w' =
    0`, plain cross-entropy training).

    Parameters
    ----------
    weight : float
        :math:`w`, the FSP weight during the initialisation epochs (1).
    init_epochs : int
        Length of the initialisation phase (30); 0 skips it.
    after_init_weight : float
        :math:`w'`, the FSP weight beside the cross-entropy afterwards (0).
    **options
        The pairing options and ``ce_weight`` (:math:`w_{ce}` after the
        initialisation), ``check_inputs``: those of
        :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`. At least 2 stages are
        paired; paired stages need equal channel counts, checked against the counts the
        channel dicts give, and on the maps.

    Example
    -------
    >>> maps = {"layer1": torch.rand(4, 8, 8, 8), "layer2": torch.rand(4, 16, 4, 4)}
    >>> same = Responses(torch.randn(4, 10), features=maps)
    >>> distiller = FSPDistiller(teacher_features=list(maps), student_features=list(maps))
    >>> out = distiller(same, same)
    >>> sorted(out), float(out["loss"])
    (['fsp_layer1_layer2', 'loss'], 0.0)
    """

    combines_gradients = True

    def __init__(
        self,
        weight: float = 1.0,
        init_epochs: int = 30,
        after_init_weight: float = 0.0,
        **options: Any,
    ) -> None:
        if init_epochs < 0:
            raise ValueError(f"fsp: init_epochs must be >= 0, got {init_epochs}")

        def flow_terms(pairs: StagePairs) -> List[MatchTerm]:
            return [
                MatchTerm(name, "fsp", "edges", "mse")
                for name in consecutive_term_names("fsp", pairs.teacher)
            ]

        super().__init__("fsp", flow_terms, **options)
        self.check_channel_counts()
        self.names = [term.name for term in self.terms]
        self.weight = weight
        self.init_epochs = init_epochs
        self.after_init_weight = after_init_weight

    def check_channel_counts(self) -> None:
        """Raise a ``ValueError`` naming the first pair of stage outputs whose channel
        counts, as the dicts give them, differ (the flow matrices of a pair must be of one
        shape); a stage a dict does not list is checked on its maps in
        :meth:`build_graphs`."""
        pairs = zip(self.teacher_features, self.student_features)
        for (t_name, s_name), t_c, s_c in zip(pairs, self.teacher_widths, self.student_widths):
            if t_c is not None and s_c is not None and t_c != s_c:
                raise ValueError(
                    f"fsp compares flow matrices of equal shape, but the teacher's {t_name!r} "
                    f"has {t_c} channels and the student's {s_name!r} {s_c}; FSP needs "
                    "paired stages of equal widths (choose them with teacher_features= and "
                    "student_features=, or a pair of networks of equal widths)"
                )

    def build_graphs(
        self, teacher: Responses, student: Responses
    ) -> Tuple[Dict[str, KnowledgeGraph], Dict[str, KnowledgeGraph]]:
        """Per pair of consecutive stages (keyed ``"fsp_<lower>_<upper>"``, the teacher's
        names), the teacher's and the student's flow graphs (:func:`flow_graph`)."""
        pairs = self.paired_maps(teacher, student)
        for k, (s_map, t_map) in enumerate(pairs):
            if s_map.shape[1] != t_map.shape[1]:
                raise ValueError(
                    f"fsp compares flow matrices of equal shape, but the teacher's "
                    f"{self.teacher_features[k]!r} has {t_map.shape[1]} channels and the "
                    f"student's {self.student_features[k]!r} {s_map.shape[1]}; pair stages "
                    "of equal widths (teacher_features=, student_features=)"
                )
        teacher_graphs, student_graphs = {}, {}
        for k, name in enumerate(self.names):
            (s_low, t_low), (s_high, t_high) = pairs[k], pairs[k + 1]
            with torch.no_grad():
                teacher_graphs[name] = flow_graph(fsp_matrix(t_low, t_high))
            student_graphs[name] = flow_graph(fsp_matrix(s_low, s_high), teacher_graphs[name])
        return teacher_graphs, student_graphs

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """``{"loss": the unweighted sum over stage pairs, "fsp_<lower>_<upper>": ...}``
        (the phases weigh it in :meth:`combine_gradients`)."""
        teacher_graphs, student_graphs = self.build_graphs(teacher, student)
        values = {
            term.name: self._match(term, teacher_graphs[term.name], student_graphs[term.name])
            for term in self.terms
        }
        return {"loss": torch.stack(list(values.values())).sum(), **values}

    def combine_gradients(self, step: GradientStep) -> None:
        r"""Add the gradient of this epoch's phase to ``.grad``: for ``step.epoch <
        init_epochs`` that of ``weight * transfer_loss`` alone (parameters it does not
        reach, such as the classifier, keep ``grad=None`` and are left alone by the
        optimiser, as the reference's initialisation optimiser leaves them), afterwards
        that of ``ce_loss + after_init_weight * transfer_loss``."""
        params = [p for p in step.student_params if p.requires_grad]
        if step.epoch < self.init_epochs:
            objective = self.weight * step.transfer_loss
        else:
            objective = step.ce_loss + self.after_init_weight * step.transfer_loss
        add_gradients(objective, params)


@METHODS.register("fsp")
@written_for(270)
@preset(FSPDistiller)
def fsp() -> FSPDistiller:
    r"""Flow of solution procedure (Yim et al., CVPR 2017), RepDistiller's schedule.

    .. math::
        \mathcal{L}_{fsp} = \sum_k \frac{1}{B\, C_k C_{k+1}}
            \big\|G^s_{k} - G^t_{k}\big\|_F^2, \qquad
        G_{k, ab} = \frac{1}{HW}\sum_{hw} F_{k, a, hw} F_{k+1, b, hw}

    The first ``init_epochs`` epochs train the student on :math:`w\,\mathcal{L}_{fsp}`
    alone, the rest on :math:`w_{ce}\,\mathcal{L}_{ce} + w'\,\mathcal{L}_{fsp}` (see
    :class:`FSPDistiller`). The reference's initialisation stage comes before its full
    240-epoch schedule, so its recipes run ``init_epochs + 240`` epochs with the
    milestones shifted by ``init_epochs``.

    Parameters
    ----------
    weight : float
        :math:`w` during the initialisation (1).
    init_epochs : int
        30 (RepDistiller's ``--init_epochs``).
    after_init_weight : float
        :math:`w'` (0: the reference trains with the cross-entropy alone afterwards).
    teacher_channels, student_channels, teacher_features, student_features, ce_weight, check_inputs
        Those of :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`; paired
        stages need equal channel counts.

    Example
    -------
    >>> channels = {"layer1": 64, "layer2": 128, "layer3": 256}
    >>> fsp(teacher_channels=channels, student_channels=channels).names
    ['fsp_layer1_layer2', 'fsp_layer2_layer3']
    """
