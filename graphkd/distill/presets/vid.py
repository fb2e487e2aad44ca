"""VID (Ahn et al., CVPR 2019): variational information distillation between stage outputs."""

from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.distill.stage_pairs import (
    ChannelPairDistiller,
    StagePairs,
    node_terms,
    per_channel,
    pooled_pair,
    sample_graphs,
)
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric
from graphkd.responses import Responses


def inverse_softplus(value: float) -> float:
    r""":math:`x` with :math:`\log(1 + e^x) = v` (``value`` :math:`v > 0`)."""
    return value + math.log(-math.expm1(-value))


class GaussianNLL(Metric):
    r"""Negative log-likelihood of the teacher's map under a Gaussian centred on the
    student's prediction, with a learned variance per channel.

    .. math::
        \ell = \frac{1}{B C H W}\sum_{b, c, h, w} \frac{1}{2}\Big(
            \frac{(\mu_{bchw} - t_{bchw})^2}{\sigma_c^2} + \log \sigma_c^2\Big),
        \qquad \sigma_c^2 = \log(1 + e^{\alpha_c}) + \epsilon

    Shapes: ``student`` (the predicted mean :math:`\mu`) and ``teacher`` ``(B, C, H, W)``;
    the parameter :math:`\alpha` is ``(C,)``, initialised so that
    :math:`\sigma_c^2` = ``init_var``.

    Example
    -------
    >>> nll = GaussianNLL(3, init_var=1.0, eps=0.0)
    >>> round(float(nll(torch.zeros(2, 3, 1, 1), torch.ones(2, 3, 1, 1)).detach()), 4)
    0.5
    """

    def __init__(
        self, channels: int, init_var: float = 5.0, eps: float = 1e-5, check_finite: bool = True
    ) -> None:
        super().__init__(check_finite=check_finite)
        if not init_var > eps >= 0:
            raise ValueError(
                f"the initial variance must exceed eps >= 0, got init_var={init_var}, "
                f"eps={eps}; VID's defaults are 5.0 and 1e-5"
            )
        self.init_var = init_var
        self.eps = eps
        self.log_scale = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set every channel's variance to ``init_var``."""
        with torch.no_grad():
            self.log_scale.fill_(inverse_softplus(self.init_var - self.eps))

    def variance(self) -> Tensor:
        """:math:`\\sigma^2` ``(C,)``."""
        return F.softplus(self.log_scale) + self.eps

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        variance = per_channel(self.variance(), student, "GaussianNLL", "one learned variance each")
        return 0.5 * ((student - teacher).square() / variance + variance.log()).mean()


def regressor(in_channels: int, out_channels: int) -> nn.Sequential:
    """VID's mean predictor: three bias-free 1x1 convolutions with ReLUs between them,
    ``in_channels -> out_channels -> out_channels -> out_channels``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1, bias=False),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1, bias=False),
    )


class VIDDistiller(ChannelPairDistiller):
    r"""Variational information distillation (Ahn et al., CVPR 2019).

    Nodes are the samples of the batch. At each pair :math:`k` of tapped stage outputs
    the teacher graph carries the teacher's map :math:`t_k` and the student graph the
    mean the student's map predicts for it, :math:`\mu_k = r_k(s_k)` (a 1x1 convolution
    stack, :func:`regressor`); the larger map of a pair is first average-pooled to the
    smaller's size. Each node term is the Gaussian negative log-likelihood
    (:class:`GaussianNLL`) with one learned variance per teacher channel:

    .. math::
        \mathcal{L} = w \sum_k \frac{1}{B C_k H_k W_k}\sum_{b, c, h, w}\frac{1}{2}\Big(
            \frac{(\mu_{k, bchw} - t_{k, bchw})^2}{\sigma_{k, c}^2}
            + \log\sigma_{k, c}^2\Big)

    The regressors and (with ``learn_variance``) the variances train with the student
    (the teacher is fixed).
    See :func:`vid` for the parameters (its pairing options and ``ce_weight``,
    ``check_inputs`` are those of
    :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`).
    """

    graph_name = "samples"
    adapts_widths = True

    def __init__(
        self,
        weight: float = 1.0,
        init_pred_var: float = 5.0,
        eps: float = 1e-5,
        learn_variance: bool = True,
        **options: Any,
    ) -> None:
        def likelihood_terms(pairs: StagePairs) -> List[MatchTerm]:
            nlls = [GaussianNLL(width, init_pred_var, eps) for width in pairs.teacher_widths]
            return node_terms("vid", pairs.teacher, nlls, [weight] * len(nlls))

        super().__init__("vid", likelihood_terms, **options)
        widths = zip(self.student_widths, self.teacher_widths)
        self.regressors = nn.ModuleList(regressor(s, t) for s, t in widths)
        self.weight = weight
        for metric in self.metrics.values():
            metric.log_scale.requires_grad_(learn_variance)

    def _graph_pair(
        self, teacher: Responses, student: Responses
    ) -> Tuple[KnowledgeGraph, KnowledgeGraph]:
        """Sample nodes; ``ndata[<teacher feature>]``: the teacher's (pooled) map on the
        teacher graph, the student's predicted mean on the student graph."""
        t_maps, s_maps = self.checked_maps(teacher, student)
        t_fields, s_fields = {}, {}
        for name, s_map, t_map, network in zip(
            self.teacher_features, s_maps, t_maps, self.regressors
        ):
            s_map, t_map = pooled_pair(s_map, t_map.detach())
            t_fields[name], s_fields[name] = t_map, network(s_map)
        return sample_graphs(t_fields, s_fields)


@METHODS.register("vid")
@preset(VIDDistiller)
def vid() -> VIDDistiller:
    r"""Variational information distillation (Ahn et al., CVPR 2019).

    .. math::
        \mathcal{L} = w \sum_k \operatorname{mean}_{b,c,h,w}\ \frac{1}{2}\Big(
            \frac{(r_k(s_k) - t_k)^2}{\sigma_{k,c}^2} + \log \sigma_{k,c}^2\Big),
        \qquad \sigma_{k,c}^2 = \log(1 + e^{\alpha_{k,c}}) + \epsilon

    over the paired stage outputs :math:`s_k` ``(B, C^s_k, H, W)`` and :math:`t_k`
    ``(B, C^t_k, H', W')`` (the larger pooled to the smaller), with
    :math:`r_k` a three-layer 1x1 convolution regressor and :math:`\alpha_k` ``(C^t_k,)``
    learned (:class:`VIDDistiller`).

    Parameters
    ----------
    weight : float
        :math:`w` (1, mdistiller's ``VID.LOSS.FEAT_WEIGHT``).
    init_pred_var : float
        Initial :math:`\sigma^2` of every channel (5.0).
    eps : float
        :math:`\epsilon` (``1e-5``).
    learn_variance : bool
        Train :math:`\alpha` with the student (``True``, as the paper and RepDistiller;
        ``False`` holds every variance at ``init_pred_var``, as mdistiller's optimiser,
        which never receives :math:`\alpha`, does).
    teacher_channels, student_channels, teacher_features, student_features, ce_weight, check_inputs
        Those of :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`; the channel
        dicts are required. The default pairs (the ``min(n_t, n_s)`` deepest tapped maps
        of each side) are mdistiller's stages for every zoo pair except VGG to VGG, whose
        recipes list ``relu1`` .. ``relu4``.

    Example
    -------
    >>> distiller = vid(teacher_channels={"layer1": 8}, student_channels={"layer1": 4})
    >>> teacher = Responses(torch.randn(2, 10), features={"layer1": torch.rand(2, 8, 8, 8)})
    >>> student = Responses(torch.randn(2, 10), features={"layer1": torch.rand(2, 4, 4, 4)})
    >>> sorted(distiller(teacher, student))  # the teacher's 8 x 8 map pooled to 4 x 4
    ['loss', 'vid_layer1']
    >>> distiller.metrics["vid_layer1"].variance()[:2]  # init_pred_var, learned from here
    tensor([5.0000, 5.0000], grad_fn=<SliceBackward0>)
    """
