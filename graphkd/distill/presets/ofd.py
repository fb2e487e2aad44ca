"""OFD (Heo et al., ICCV 2019): a comprehensive overhaul of feature distillation."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.distill.stage_pairs import (
    ChannelPairDistiller,
    StagePairs,
    halving_weights,
    node_terms,
    per_channel,
    sample_graphs,
    term_name,
)
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric
from graphkd.responses import Responses

#: ``(gamma, beta)`` per tapped teacher feature: the affine parameters ``(C,)`` of the
#: batch norm producing it (the trainer's ``teacher_bn``).
BatchNormAffine = Dict[str, Tuple[Tensor, Tensor]]


def margin_from_batchnorm(gamma: Tensor, beta: Tensor) -> Tensor:
    r"""OFD's margin per channel: the expected value of a pre-activation below zero.

    A batch norm's output channel is taken as :math:`x \sim \mathcal{N}(\beta, \gamma^2)`;
    with :math:`s = |\gamma|`, :math:`m = \beta` and :math:`\Phi`, :math:`\varphi` the
    standard normal CDF and density,

    .. math::
        \mu^- = E[x \mid x < 0] = m - s\,\frac{\varphi(m / s)}{\Phi(-m / s)}

    where :math:`\Phi(-m/s) > 10^{-3}`, and :math:`-3 s` elsewhere (a channel almost
    never negative), as the reference does. A channel with :math:`\gamma = 0` gets 0.
    Computed in float64; returned in ``gamma``'s dtype, shape ``(C,)``.

    Example
    -------
    >>> margin_from_batchnorm(torch.ones(2), torch.tensor([0.0, 5.0]))
    tensor([-0.7979, -3.0000])
    """
    s = gamma.detach().double().abs()
    m = beta.detach().double()
    below = torch.special.ndtr(-m / s)
    truncated = m - s * torch.exp(-0.5 * (m / s).square()) / math.sqrt(2 * math.pi) / below
    usable = (s > 0) & (below > 1e-3)
    return torch.where(usable, truncated, -3.0 * s).to(gamma.dtype)


class PartialL2(Metric):
    r"""OFD's partial L2 distance against a per-channel margin :math:`\mu^-`.

    .. math::
        \ell = \frac{1}{B}\sum_{b, c, h, w} \begin{cases}
            (s - t)^2 & t > \mu^-_c \ \text{and}\ (s > t\ \text{or}\ t > 0) \\
            (s - \mu^-_c)^2 & t \le \mu^-_c < s \\
            0 & \text{otherwise}
        \end{cases}

    (no gradient where the student is already below a teacher that does not fire).
    ``student`` (the connector's output) and ``teacher`` are ``(B, C, H, W)``; ``margin``
    ``(C,)`` is a buffer.
    """

    def __init__(self, margin: Tensor, check_finite: bool = True) -> None:
        super().__init__(check_finite=check_finite)
        self.register_buffer("margin", margin.detach().clone().reshape(-1))

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        margin = per_channel(self.margin.to(student.dtype), student, "PartialL2", "one margin each")
        target = torch.maximum(teacher, margin)
        active = (student > target) | (teacher > 0)
        return (student - target).square().mul(active).sum() / student.shape[0]


class Connector(nn.Sequential):
    """A ``k x k`` bias-free convolution from the student's channels to the teacher's,
    then a batch norm; the convolution starts from :math:`\\mathcal{N}(0, 2 / (k^2 C_t))`,
    the batch norm from :math:`\\gamma = 1, \\beta = 0` (He et al.'s initialisation, as
    OFD's reference)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1) -> None:
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"the connector's kernel_size must be a positive odd number (the map keeps "
                f"its size), got {kernel_size}"
            )
        super().__init__(
            nn.Conv2d(
                in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False
            ),
            nn.BatchNorm2d(out_channels),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        conv, bn = self[0], self[1]
        fan_out = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
        with torch.no_grad():
            conv.weight.normal_(0.0, math.sqrt(2.0 / fan_out))
        bn.reset_parameters()


class OFDDistiller(ChannelPairDistiller):
    r"""Overhaul of feature distillation (Heo et al., ICCV 2019).

    Nodes are the samples of the batch. At each of the :math:`n` pairs of tapped stage
    outputs *before their final ReLU* (tap the networks with ``preact=True``), the
    teacher graph carries the teacher's map :math:`t_k` average-pooled to the student's
    size, the student graph the student's map through its connector :math:`c_k`
    (:class:`Connector`), and the node term is :class:`PartialL2` with the margins
    :math:`\mu^-_k` of :func:`margin_from_batchnorm`:

    .. math::
        \mathcal{L} = w \sum_{k=1}^{n} 2^{k - n}\, d_p\big(c_k(s_k), t_k; \mu^-_k\big)

    (the deepest pair weighs 1, each shallower one half the next). The connectors train
    with the student. See :func:`ofd` for the parameters (its pairing options and
    ``ce_weight``, ``check_inputs`` are those of
    :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`).
    """

    graph_name = "samples"
    adapts_widths = True

    def __init__(
        self,
        teacher_bn: Optional[BatchNormAffine] = None,
        weight: float = 1e-3,
        kernel_size: int = 1,
        preact: bool = True,
        **options: Any,
    ) -> None:
        def partial_l2_terms(pairs: StagePairs) -> List[MatchTerm]:
            widths = zip(pairs.teacher, pairs.teacher_widths)
            losses = [PartialL2(_margin(teacher_bn, name, width)) for name, width in widths]
            return node_terms("ofd", pairs.teacher, losses, halving_weights(weight, len(losses)))

        super().__init__("ofd", partial_l2_terms, **options)
        self.connectors = nn.ModuleList(
            Connector(s, t, kernel_size) for s, t in zip(self.student_widths, self.teacher_widths)
        )
        self.weight = weight
        self.preact = preact

    def margins(self) -> Dict[str, Tensor]:
        """``{teacher feature: margin (C,)}``."""
        return {name: self.metrics[term_name("ofd", name)].margin for name in self.teacher_features}

    def _graph_pair(
        self, teacher: Responses, student: Responses
    ) -> Tuple[KnowledgeGraph, KnowledgeGraph]:
        """Sample nodes; ``ndata[<teacher feature>]``: the teacher's map pooled to the
        student's size (teacher graph) and the student's map through its connector
        (student graph)."""
        t_maps, s_maps = self.checked_maps(teacher, student)
        t_fields, s_fields = {}, {}
        for name, s_map, t_map, connector in zip(
            self.teacher_features, s_maps, t_maps, self.connectors
        ):
            s_fields[name] = connector(s_map)
            t_fields[name] = F.adaptive_avg_pool2d(t_map.detach(), s_fields[name].shape[-2:])
        return sample_graphs(t_fields, s_fields)


def _margin(teacher_bn: Optional[BatchNormAffine], name: str, width: int) -> Tensor:
    if teacher_bn is None:  # unit batch norms: N(0, 1) before every activation
        return margin_from_batchnorm(torch.ones(width), torch.zeros(width))
    if name not in teacher_bn:
        raise ValueError(
            f"teacher_bn has no batch norm for the teacher feature {name!r} (it covers "
            f"{sorted(teacher_bn)}); OFD's margins come from the batch norm producing each "
            "pre-activation map: tap a feature that a batch norm produces, or pass its "
            "(gamma, beta) in teacher_bn"
        )
    gamma, beta = teacher_bn[name]
    if tuple(gamma.shape) != (width,) or tuple(beta.shape) != (width,):
        raise ValueError(
            f"teacher_bn[{name!r}] holds gamma {tuple(gamma.shape)} and beta "
            f"{tuple(beta.shape)}, but the feature has {width} channels; pass the affine "
            "parameters of the batch norm that produces it"
        )
    return margin_from_batchnorm(gamma.cpu(), beta.cpu())


@METHODS.register("ofd")
@preset(OFDDistiller)
def ofd() -> OFDDistiller:
    r"""A comprehensive overhaul of feature distillation (Heo et al., ICCV 2019).

    .. math::
        \mathcal{L} = w \sum_{k=1}^{n} \frac{2^{k - n}}{B} \sum_{b,c,h,w}
            \big(c_k(s_k) - \max(t_k, \mu^-_{k,c})\big)^2\,
            \big[c_k(s_k) > \max(t_k, \mu^-_{k,c})\ \text{or}\ t_k > 0\big]

    over the paired pre-ReLU stage outputs :math:`s_k` ``(B, C^s_k, H, W)`` and
    :math:`t_k` (average-pooled to ``(H, W)``), with :math:`c_k` a 1x1 convolution and
    batch norm to :math:`C^t_k` channels and :math:`\mu^-_k` ``(C^t_k,)`` the expected
    negative response of the teacher's batch norm (:func:`margin_from_batchnorm`).

    Parameters
    ----------
    teacher_bn : dict of str to (Tensor, Tensor), optional
        ``(gamma, beta)`` ``(C,)`` of the batch norm producing each tapped teacher map
        (the trainer passes it, see
        :func:`~graphkd.models.preact_batchnorm.preact_batchnorm_affine`). Without it
        every channel is taken as :math:`\mathcal{N}(0, 1)` (margin :math:`-0.798`).
    weight : float
        :math:`w` (``1e-3``, mdistiller's CIFAR ``OFD.LOSS.FEAT_WEIGHT``; its ImageNet
        config uses ``1e-4``). It divides the per-sample sum by 1000 as the authors'
        code does (``/ batch_size / 1000``).
    kernel_size : int
        The connector's kernel (1).
    preact : bool
        Read the stage outputs before their final activation (``True``): the trainer
        then taps every network with ``graphkd.models.tap(model, preact=True)``;
        ``False`` uses the activated outputs (for networks without pre-activation taps).
    teacher_channels, student_channels, teacher_features, student_features, ce_weight, check_inputs
        Those of :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller` (here the
        channels of the tapped pre-activation stage outputs); the channel dicts are
        required.

    Example
    -------
    >>> channels = {"layer1.0.merge": 8, "layer2.0.merge": 16}
    >>> distiller = ofd(
    ...     teacher_channels=channels, student_channels={"layer1.0.merge": 4, "layer2.0.merge": 8}
    ... )
    >>> def maps(c1, c2):
    ...     f = {"layer1.0.merge": torch.randn(2, c1, 8, 8), "layer2.0.merge": torch.randn(2, c2, 4, 4)}
    ...     return Responses(torch.randn(2, 10), features=f)
    >>> sorted(distiller(maps(8, 16), maps(4, 8)))
    ['loss', 'ofd_layer1_0_merge', 'ofd_layer2_0_merge']
    """
