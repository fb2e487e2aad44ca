"""Correlation congruence (Peng et al. 2019): the reference's consecutive-sample loss on
trainable embeddings, or the paper's Taylor-RBF correlations on the complete graph."""

from __future__ import annotations

import math
from functools import partial
from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.distiller import GraphBuilder, GraphMatchingDistiller
from graphkd.distill.embedded_samples import EmbeddedSamples
from graphkd.distill.inputs import embedding_of
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.graphs import check_relational_batch, complete_graph, edge_features
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric
from graphkd.responses import Responses

#: The forms of :func:`cc`: the reference implementation's loss and the paper's.
FORMS = ("reference", "taylor")


class ConsecutiveCorrelation(Metric):
    r"""Correlation of the student-teacher gaps of consecutive samples.

    .. math::
        \delta_i = |s_i - t_i|, \qquad
        \ell = \frac{1}{B - 1} \sum_{i=1}^{B-1} \sum_{d} \delta_{i,d}\, \delta_{i+1,d}

    Shapes: ``student`` and ``teacher`` ``(B, D)`` with :math:`B \ge 2` (a ``ValueError``
    otherwise), in batch order.

    Example
    -------
    >>> import torch
    >>> s, t = torch.tensor([[1.0], [2.0], [0.0]]), torch.zeros(3, 1)
    >>> float(ConsecutiveCorrelation()(s, t))
    1.0
    """

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        check_relational_batch(student.shape[0])
        gap = (student - teacher).abs()
        return (gap[:-1] * gap[1:]).sum(1).mean()


def correlation_graph(
    responses: Responses,
    like: Optional[KnowledgeGraph] = None,
    gamma: float = 0.4,
    order: int = 2,
    feature: Optional[str] = None,
) -> KnowledgeGraph:
    r"""Complete graph with self-loops; edges hold Taylor-expanded Gaussian-RBF kernels.

    With L2-normalised embeddings :math:`\hat x`,
    :math:`\exp(-\gamma\|\hat x_u - \hat x_v\|^2) = e^{-2\gamma} e^{2\gamma \hat x_u\cdot\hat x_v}`,
    expanded to order :math:`P`:

    .. math::
        k_{uv} = e^{-2\gamma} \sum_{p=0}^{P} \frac{(2\gamma\, \hat x_u \cdot \hat x_v)^p}{p!}

    Returns
    -------
    KnowledgeGraph
        ``B`` nodes, ``B^2`` edges, ``edata["correlation"]`` ``(B^2,)``.
    """
    x = F.normalize(embedding_of(responses, feature), dim=1)
    graph = (
        like.same_topology() if like is not None else complete_graph(x.shape[0], device=x.device)
    )
    scaled = 2.0 * gamma * edge_features.dot(graph, x)
    kernel = sum(scaled.pow(p) / math.factorial(p) for p in range(order + 1))
    graph.edata["correlation"] = math.exp(-2.0 * gamma) * kernel
    return graph


class CCDistiller(GraphMatchingDistiller):
    """Correlation congruence in the form ``form``: the reference's consecutive-sample
    loss on trainable embeddings (:class:`~graphkd.distill.embedded_samples.EmbeddedSamples`,
    :class:`ConsecutiveCorrelation`) or the paper's Taylor-RBF correlations
    (:func:`correlation_graph`); see :func:`cc` for the options."""

    graph_name = "samples"

    def __init__(
        self,
        teacher_dim: Optional[int] = None,
        student_dim: Optional[int] = None,
        form: str = "reference",
        weight: Optional[float] = None,
        embed_dim: int = 128,
        gamma: float = 0.4,
        order: int = 2,
        feature: Optional[str] = None,
        ce_weight: float = 1.0,
        check_inputs: bool = True,
    ) -> None:
        if form not in FORMS:
            raise ValueError(f"unknown cc form {form!r}; use one of {', '.join(map(repr, FORMS))}")
        student: Optional[GraphBuilder] = None
        if form == "taylor":
            teacher: GraphBuilder = partial(
                correlation_graph, gamma=gamma, order=order, feature=feature
            )
            term = MatchTerm("cc", "correlation", "edges", "mse", 1.0 if weight is None else weight)
        else:
            if teacher_dim is None or student_dim is None:
                raise ValueError(
                    "cc's reference form trains linear heads on both networks' features and "
                    "needs teacher_dim and student_dim (their widths; the trainer passes "
                    "them), or use form='taylor', which has no parameters"
                )
            teacher = EmbeddedSamples(teacher_dim, embed_dim, feature=feature, detach=True)
            student = EmbeddedSamples(student_dim, embed_dim, feature=feature)
            metric = ConsecutiveCorrelation(check_finite=False)
            term = MatchTerm("cc", "embed", "nodes", metric, 0.02 if weight is None else weight)
        super().__init__(teacher, student, [term], ce_weight, check_inputs)
        self.form = form


@METHODS.register("cc")
@preset(CCDistiller)
def cc() -> CCDistiller:
    r"""Correlation congruence KD (Peng et al., ICCV 2019).

    ``form="reference"`` (default), the loss of the reference implementation the
    CIFAR-100 results come from: trainable linear heads map teacher and student features
    to :math:`d = 128` (:class:`~graphkd.distill.embedded_samples.EmbeddedSamples`, both heads train with the student) and

    .. math::
        \mathcal{L} = \frac{1}{B-1}\sum_{i=1}^{B-1}\sum_d
            |h^s_i - h^t_i|_d\, |h^s_{i+1} - h^t_{i+1}|_d

    (:class:`ConsecutiveCorrelation`), weight 0.02.

    ``form="taylor"``, the paper's formula: Gaussian-RBF correlations of the
    L2-normalised embeddings, Taylor order :math:`P = 2`, :math:`\gamma = 0.4`
    (:func:`correlation_graph`), weight 1:

    .. math::
        \mathcal{L} = \frac{1}{B^2} \sum_{u, v} (k^s_{uv} - k^t_{uv})^2

    Parameters
    ----------
    teacher_dim, student_dim : int, optional
        Widths of the teacher's and the student's features (the trainer passes them;
        required by the reference form).
    form : {"reference", "taylor"}
        Which loss.
    weight : float, optional
        Term weight (default 0.02 for the reference form, 1 for the Taylor form).
    embed_dim : int
        Width of the reference form's heads (128).
    gamma, order : float, int
        The Taylor form's kernel width and expansion order.
    feature : str, optional
        A tapped feature instead of the pooled embedding.
    ce_weight : float
        Cross-entropy weight (1).

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> distiller = cc(teacher_dim=32, student_dim=16)
    >>> t = Responses(torch.randn(8, 10), embedding=torch.randn(8, 32))
    >>> s = Responses(torch.randn(8, 10), embedding=torch.randn(8, 16))
    >>> sorted(distiller(t, s))
    ['cc', 'loss']
    """
