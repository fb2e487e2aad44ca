"""MLKD (Jin, Wang and Lin, CVPR 2023): instance, batch and class prediction alignment."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.graphs import complete_graph, edge_features
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric, functional
from graphkd.metrics.metric import check_positive
from graphkd.responses import Responses

#: The reference's temperatures: its base temperature (4 on CIFAR-100) first, then 3, 5, 2, 6.
TEMPERATURES = (4.0, 3.0, 5.0, 2.0, 6.0)
#: The temperatures whose unmasked instance term reads the strong view in the reference
#: (the other two read the weak view again).
STRONG_TEMPERATURES = (4.0, 3.0, 5.0)

Graphs = Dict[str, KnowledgeGraph]


def _temperatures(name: str, values: Sequence[float]) -> Tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if not values:
        raise ValueError(f"{name} must name at least one temperature, e.g. {TEMPERATURES}")
    for value in values:
        check_positive("mlkd", name, value)
    return values


class MultiTemperatureKD(Metric):
    r"""Hinton's KD summed over several temperatures.

    .. math::
        \ell = \sum_{T \in \mathcal{T}} \frac{T^2}{B}\sum_i
            \mathrm{KL}\big(\mathrm{softmax}(z^t_i / T)\,\|\,\mathrm{softmax}(z^s_i / T)\big)

    Shapes: ``student`` and ``teacher`` ``(B, C)`` logits.

    Example
    -------
    >>> import torch
    >>> z = torch.randn(4, 10)
    >>> float(MultiTemperatureKD((2.0, 4.0))(z, z))
    0.0
    """

    def __init__(self, temperatures: Sequence[float] = TEMPERATURES, check_finite: bool = True):
        super().__init__(check_finite)
        self.temperatures = _temperatures("temperatures", temperatures)

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        total = functional.kd_loss(student, teacher, tau=self.temperatures[0])
        for tau in self.temperatures[1:]:
            total = total + functional.kd_loss(student, teacher, tau=tau)
        return total


class MultiLevelGraphs(torch.nn.Module):
    r"""One network's MLKD graphs: instance nodes, a batch graph and a class graph.

    With :math:`P_T = \mathrm{softmax}(Z / T)` ``(B, C)`` the weak view's predictions at
    temperature :math:`T`:

    - ``"instance"``: ``B`` isolated sample nodes with the logits of both views,
      ``ndata["weak"]`` and ``ndata["strong"]`` ``(B, C)``;
    - ``"batch"``: the complete graph of the ``B`` samples (self-loops included),
      ``edata["affinity"]`` ``(B^2, |T|)``: edge :math:`(i, j)` holds
      :math:`(P_T P_T^\top)_{ij}`, the agreement of two samples' predictions;
    - ``"class"``: the complete graph of the ``C`` classes,
      ``edata["affinity"]`` ``(C^2, |T|)``: edge :math:`(a, b)` holds
      :math:`(P_T^\top P_T)_{ab}`, how much the batch predicts both classes together.

    Parameters
    ----------
    temperatures : sequence of float
        :math:`\mathcal{T}` (default ``(4, 3, 5, 2, 6)``).

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> r = Responses(torch.randn(6, 10), virtual=Responses(torch.randn(6, 10)))
    >>> graphs = MultiLevelGraphs((4.0, 2.0))(r)
    >>> tuple(graphs["batch"].edata["affinity"].shape), tuple(graphs["class"].edata["affinity"].shape)
    ((36, 2), (100, 2))
    """

    def __init__(self, temperatures: Sequence[float] = TEMPERATURES) -> None:
        super().__init__()
        self.temperatures = _temperatures("temperatures", temperatures)

    def forward(self, responses: Responses, like: Optional[Graphs] = None) -> Graphs:
        weak = responses.logits
        strong = responses.require_virtual().logits
        if strong.shape != weak.shape or weak.dim() != 2:
            raise ValueError(
                f"MLKD needs (B, C) logits of equal shape for both views, got {tuple(weak.shape)} "
                f"(weak) and {tuple(strong.shape)} (strong); pass both views of the same images"
            )
        batch, classes = weak.shape
        none = torch.empty(0, dtype=torch.long, device=weak.device)
        instance = KnowledgeGraph(none, none, batch, ndata={"weak": weak, "strong": strong})
        if like is not None:
            batch_graph, class_graph = like["batch"].same_topology(), like["class"].same_topology()
        else:
            batch_graph = complete_graph(batch, device=weak.device)
            class_graph = complete_graph(classes, device=weak.device)
        predictions = [F.softmax(weak / tau, dim=1) for tau in self.temperatures]
        batch_graph.edata["affinity"] = torch.stack(
            [edge_features.dot(batch_graph, p) for p in predictions], 1
        )
        class_graph.edata["affinity"] = torch.stack(
            [edge_features.dot(class_graph, p.t()) for p in predictions], 1
        )
        return {"instance": instance, "batch": batch_graph, "class": class_graph}


def confidence_factors(teacher_logits: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The reference's confidence-based factors from the teacher's weak-view logits.

    With :math:`p = \mathrm{softmax}(z^t)` (temperature 1):

    .. math::
        f_b = \frac{1}{B}\,\big|\{i : \max_c p_{ic} \le \mathrm{median}_j \max_c p_{jc}\}\big|,
        \qquad
        f_c = \frac{1}{C}\,\big|\{a : \textstyle\sum_i p_{ia} \le
              \mathrm{median}_b \sum_i p_{ib}\}\big|

    (medians with linear interpolation, as ``numpy.percentile(x, 50)``), without
    gradient. Returns ``(f_b, f_c)``, scalars.
    """
    with torch.no_grad():  # quantiles need float32 or float64
        p = F.softmax(
            teacher_logits.to(torch.promote_types(teacher_logits.dtype, torch.float32)), 1
        )
        confidence = p.max(dim=1).values
        per_class = p.sum(dim=0)
        batch = (confidence <= torch.quantile(confidence, 0.5)).to(p.dtype).mean()
        classes = (per_class <= torch.quantile(per_class, 0.5)).to(p.dtype).mean()
    return batch, classes


class MLKDDistiller(GraphMatchingDistiller):
    r"""Multi-level logit distillation (Jin, Wang and Lin, CVPR 2023).

    Every image is seen in a weak view (crop and flip) and a strong view (the trainer's
    virtual view, :attr:`needs_virtual_view`); the student's cross-entropy covers both
    (:attr:`ce_on_virtual_view`). With :math:`\mathrm{KD}_T(v)` Hinton's loss at
    temperature :math:`T` on view :math:`v`, :math:`G^{(T)} = P_T P_T^\top` and
    :math:`M^{(T)} = P_T^\top P_T` the batch and class graphs of the weak view
    (:class:`MultiLevelGraphs`) and :math:`f_b, f_c` the
    :func:`confidence_factors`, the loss is the reference implementation's:

    .. math::
        \mathcal{L}_{ins} = \sum_{T \in \mathcal{T}} f_b\,\mathrm{KD}_T(\text{weak})
            + \sum_{T \in \mathcal{S}} \mathrm{KD}_T(\text{strong})
            + \sum_{T \in \mathcal{T} \setminus \mathcal{S}} \mathrm{KD}_T(\text{weak})

    .. math::
        \mathcal{L}_{batch} = f_b \sum_{T} \frac{\|G^{(T)}_t - G^{(T)}_s\|_F^2}{B},
        \qquad
        \mathcal{L}_{class} = f_c \sum_{T} \frac{\|M^{(T)}_t - M^{(T)}_s\|_F^2}{C}

    .. math::
        \mathcal{L} = w_{ce}\big(\mathrm{CE}(\text{weak}) + \mathrm{CE}(\text{strong})\big)
            + w\,(\mathcal{L}_{ins} + \mathcal{L}_{batch} + \mathcal{L}_{class})

    with :math:`\mathcal{T} = (4, 3, 5, 2, 6)`, :math:`\mathcal{S} = (4, 3, 5)`,
    :math:`w = 0.9` and :math:`w_{ce} = 0.1` by default (the trainer adds the
    cross-entropy). ``masking=False`` sets :math:`f_b = f_c = 1`.

    Parameters
    ----------
    temperatures : sequence of float
        :math:`\mathcal{T}`.
    strong_temperatures : sequence of float
        :math:`\mathcal{S}`, a subset of :math:`\mathcal{T}`; pass
        ``strong_temperatures=temperatures`` for a strong-view term at every temperature.
    weight : float
        :math:`w` (0.9).
    ce_weight : float
        :math:`w_{ce}` (0.1).
    masking : bool
        Scale by the confidence factors (default ``True``).
    check_inputs : bool
        Validate shapes and reject NaN/Inf (one host synchronisation per step).

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> def views():
    ...     return Responses(torch.randn(8, 10), virtual=Responses(torch.randn(8, 10)))
    >>> sorted(MLKDDistiller()(views(), views()))
    ['batch', 'class', 'instance', 'loss']
    """

    needs_virtual_view = True
    ce_on_virtual_view = True

    def __init__(
        self,
        temperatures: Sequence[float] = TEMPERATURES,
        strong_temperatures: Sequence[float] = STRONG_TEMPERATURES,
        weight: float = 0.9,
        ce_weight: float = 0.1,
        masking: bool = True,
        check_inputs: bool = True,
    ) -> None:
        temperatures = _temperatures("temperatures", temperatures)
        strong = tuple(float(t) for t in strong_temperatures)
        missing = [t for t in strong if t not in temperatures]
        if missing:
            raise ValueError(
                f"strong_temperatures {missing} are not among the temperatures {temperatures}; "
                "strong_temperatures picks which of them read the strong view"
            )
        per_node = {"reduction": "per_node"}  # ||G^t - G^s||_F^2 / N, summed over temperatures
        terms = [
            MatchTerm("instance", "weak", "nodes", MultiTemperatureKD(temperatures, False), weight),
            MatchTerm("batch", "affinity", "edges", "mse", weight, options=per_node),
            MatchTerm("class", "affinity", "edges", "mse", weight, options=per_node),
        ]
        super().__init__(
            MultiLevelGraphs(temperatures),
            terms=terms,
            ce_weight=ce_weight,
            check_inputs=check_inputs,
        )
        self.temperatures = temperatures
        self.strong_temperatures = strong
        self.masking = masking

    def build_graphs(self, teacher: Responses, student: Responses) -> Tuple[Graphs, Graphs]:
        """The teacher's and the student's graphs, ``{"instance": ..., "batch": ...,
        "class": ...}`` each (:class:`MultiLevelGraphs`)."""
        return cast(Tuple[Graphs, Graphs], self._graph_pair(teacher, student))

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """``{"loss", "instance", "batch", "class"}`` for one batch of both views."""
        teacher_graphs, student_graphs = self.build_graphs(teacher, student)
        t_nodes, s_nodes = teacher_graphs["instance"], student_graphs["instance"]
        t_weak, s_weak = t_nodes.ndata["weak"], s_nodes.ndata["weak"]
        t_strong, s_strong = t_nodes.ndata["strong"], s_nodes.ndata["strong"]
        if s_weak.shape != t_weak.shape:
            raise ValueError(
                f"the teacher's logits have shape {tuple(t_weak.shape)} but the student's "
                f"{tuple(s_weak.shape)}; both networks need the same classes and batch"
            )
        if self.masking:
            batch_factor, class_factor = confidence_factors(t_weak)
        else:
            batch_factor = class_factor = t_weak.new_ones(())
        instance = batch_factor * self.metrics["instance"](s_weak, t_weak)
        for tau in self.temperatures:
            if tau in self.strong_temperatures:
                instance = instance + functional.kd_loss(s_strong, t_strong, tau=tau)
            else:
                instance = instance + functional.kd_loss(s_weak, t_weak, tau=tau)
        values = {"instance": instance}
        for name, factor in (("batch", batch_factor), ("class", class_factor)):
            s_graph, t_graph = student_graphs[name], teacher_graphs[name]
            values[name] = factor * self.metrics[name](
                s_graph.edata["affinity"], t_graph.edata["affinity"], graph=s_graph
            )
        total = sum(term.weight * values[term.name] for term in self.terms)
        assert isinstance(total, Tensor)
        return {"loss": total, **values}


@METHODS.register("mlkd")
@preset(MLKDDistiller)
def mlkd() -> MLKDDistiller:
    r"""Multi-level logit distillation (Jin, Wang and Lin, CVPR 2023).

    .. math::
        \mathcal{L} = 0.1\,\big(\mathrm{CE}_{weak} + \mathrm{CE}_{strong}\big)
            + 0.9\,(\mathcal{L}_{ins} + \mathcal{L}_{batch} + \mathcal{L}_{class})

    See :class:`MLKDDistiller`. The trainer feeds a second, strongly augmented view of
    every image (:attr:`~graphkd.distill.Distiller.needs_virtual_view`).

    Parameters
    ----------
    temperatures : sequence of float
        ``(4, 3, 5, 2, 6)``: the reference's base temperature (``KD.TEMPERATURE``, 4 on
        CIFAR-100, 1 in its ImageNet configs) and its fixed 3, 5, 2, 6.
    strong_temperatures : sequence of float
        ``(4, 3, 5)``: those whose unmasked instance term reads the strong view.
    weight, ce_weight : float
        0.9 and 0.1 (``KD.LOSS.KD_WEIGHT``, ``KD.LOSS.CE_WEIGHT``; 0.5 and 0.5 on ImageNet).
    masking : bool
        The confidence factors (default ``True``).

    Example
    -------
    >>> import graphkd
    >>> method = graphkd.create_method("mlkd")
    >>> method.needs_virtual_view, method.ce_on_virtual_view, method.ce_weight
    (True, True, 0.1)
    """
