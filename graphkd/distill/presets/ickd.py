"""ICKD (Liu et al., ICCV 2021): inter-channel correlation graphs of one feature map."""

from __future__ import annotations

import functools
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.inputs import tapped_feature
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import create_metric
from graphkd.responses import Responses, check_finite

NORM_EPS = 1e-12


@functools.lru_cache(maxsize=2)
def _channel_edges(batch: int, channels: int, device: torch.device) -> Tuple[Tensor, Tensor]:
    """Endpoints of ``batch`` complete graphs with self-loops over ``channels`` nodes each,
    member-major and row-major by (source, destination); built once per size and device."""
    nodes = torch.arange(channels, device=device)
    offsets = (torch.arange(batch, device=device) * channels).repeat_interleave(channels * channels)
    src = nodes.repeat_interleave(channels).repeat(batch) + offsets
    dst = nodes.repeat(channels * batch) + offsets
    return src, dst


def channel_graph(feature: Tensor, like: Optional[KnowledgeGraph] = None) -> KnowledgeGraph:
    r"""Each sample's channels as a complete graph whose edges hold their correlations.

    With :math:`F_b \in \mathbb{R}^{C \times HW}` the map of sample :math:`b`,
    :math:`M_b = F_b F_b^\top` and each row normalised to unit length,

    .. math::
        e_{b,uv} = \frac{M_b[u, v]}{\max(\|M_b[u, :]\|_2, \epsilon)},
        \qquad \epsilon = 10^{-12}

    on the edge from channel :math:`u` to channel :math:`v` of member graph :math:`b`.

    Parameters
    ----------
    feature : Tensor
        ``(B, C, H, W)`` (or ``(B, C, L)``) maps.
    like : KnowledgeGraph, optional
        A graph whose topology to reuse (the teacher's).

    Returns
    -------
    KnowledgeGraph
        ``B`` members of ``C`` nodes (``ndata["channel"]`` ``(B C, H W)``), ``B C^2`` edges
        (``edata["correlation"]`` ``(B C^2,)``, reshaping to ``(B, C, C)``).

    Example
    -------
    >>> import torch
    >>> g = channel_graph(torch.rand(2, 3, 4, 4))
    >>> g.num_nodes, g.num_edges, g.batch_size
    (6, 18, 2)
    """
    batch, channels = feature.shape[0], feature.shape[1]
    rows = feature.reshape(batch, channels, -1)
    correlation = F.normalize(torch.bmm(rows, rows.transpose(1, 2)), dim=2, eps=NORM_EPS)
    if like is not None:
        graph = like.same_topology()
    else:
        src, dst = _channel_edges(batch, channels, feature.device)
        graph = KnowledgeGraph(
            src,
            dst,
            batch * channels,
            batch_num_nodes=[channels] * batch,
            batch_num_edges=[channels * channels] * batch,
        )
    graph.ndata["channel"] = rows.reshape(batch * channels, -1)
    graph.edata["correlation"] = correlation.reshape(-1)
    return graph


class ChannelEmbedding(nn.Module):
    r"""ICKD's student embedding: a bias-free 1x1 convolution to the teacher's channels,
    then a batch norm.

    Shapes: ``(B, C_s, H, W) -> (B, C_t, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def reset_parameters(self) -> None:
        """PyTorch's default convolution initialisation, a unit batch norm."""
        self.conv.reset_parameters()
        self.bn.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


def _pick(channels: Optional[Dict[str, int]], name: Optional[str], who: str) -> Tuple[str, int]:
    if channels is None:
        raise ValueError(
            f"ickd needs {who}_channels, the channel count of each tapped feature (dict "
            "feature name -> channels, shallow to deep); the trainer passes it from the "
            "tapped models"
        )
    if not channels:
        raise ValueError(
            f"the {who} taps no features; ickd relates the channels of a stage output "
            "(tap the stage outputs with graphkd.models.tap(model))"
        )
    chosen = list(channels)[-1] if name is None else name
    if chosen not in channels:
        raise ValueError(
            f"{who}_feature {chosen!r} is not among the {who}'s tapped features "
            f"({', '.join(channels)}); pick one of them"
        )
    return chosen, int(channels[chosen])


class ICKDDistiller(GraphMatchingDistiller):
    r"""Inter-channel correlation distillation (Liu et al., ICCV 2021).

    The student's map passes through :class:`ChannelEmbedding` to the teacher's
    :math:`C` channels; both maps become channel graphs (:func:`channel_graph`) on one
    topology, and their edges are compared by the squared error summed and divided by the
    :math:`B C` channel nodes (``mse`` with ``reduction="per_node"``):

    .. math::
        \mathcal{L} = \frac{w}{B C} \sum_{b} \big\| \hat M^s_b - \hat M^t_b \big\|_F^2
            + w_{kd}\, \tau^2 \frac{1}{B} \sum_b \mathrm{KL}\big(
              \mathrm{softmax}(z^t_b / \tau) \,\|\, \mathrm{softmax}(z^s_b / \tau)\big)

    with :math:`\hat M_b` the row-normalised :math:`C \times C` correlations.

    Parameters
    ----------
    teacher_channels, student_channels : dict of str to int
        Every tapped feature's channels (the trainer passes them).
    teacher_feature, student_feature : str, optional
        The maps related (default: each model's last tapped feature, the last stage).
    weight : float
        :math:`w` (2.5).
    kd_weight, temperature : float
        :math:`w_{kd}` (1) and :math:`\tau` (4); ``kd_weight=0`` drops the KD term.
    ce_weight, check_inputs
        As for every :class:`~graphkd.GraphMatchingDistiller` (1, ``True``).
    """

    graph_name = "channels"

    def __init__(
        self,
        teacher_channels: Optional[Dict[str, int]] = None,
        student_channels: Optional[Dict[str, int]] = None,
        teacher_feature: Optional[str] = None,
        student_feature: Optional[str] = None,
        weight: float = 2.5,
        kd_weight: float = 1.0,
        temperature: float = 4.0,
        ce_weight: float = 1.0,
        check_inputs: bool = True,
    ) -> None:
        per_node = {"reduction": "per_node"}
        term = MatchTerm("ickd", "correlation", "edges", "mse", weight, options=per_node)
        super().__init__(self.teacher_graph, self.student_graph, [term], ce_weight, check_inputs)
        self.teacher_feature, teacher_width = _pick(teacher_channels, teacher_feature, "teacher")
        self.student_feature, student_width = _pick(student_channels, student_feature, "student")
        self.embed = ChannelEmbedding(student_width, teacher_width)
        self.kd_weight = kd_weight
        self.kd = create_metric("kd", tau=temperature, check_finite=False)

    def _map(self, responses: Responses, name: str, width: int, who: str) -> Tensor:
        fix = (
            "ickd relates the channels of a tapped stage output: tap it with "
            f"graphkd.models.tap(model, features=[...]) and list it in {who}_channels"
        )
        feature = tapped_feature(responses, name, who, fix)
        if feature.dim() != 4 or feature.shape[1] != width:
            raise ValueError(
                f"the {who}'s feature {name!r} has shape {tuple(feature.shape)} but ickd "
                f"expects (B, {width}, H, W) ({who}_channels); pass the channel counts of the "
                "tapped maps"
            )
        if self.check_inputs:
            check_finite({f"{who} feature {name!r}": feature})
        return feature

    def teacher_graph(self, responses: Responses) -> KnowledgeGraph:
        """The teacher's channel graph (its map as tapped)."""
        feature = self._map(responses, self.teacher_feature, self.embed.bn.num_features, "teacher")
        return channel_graph(feature)

    def student_graph(self, responses: Responses, like: KnowledgeGraph) -> KnowledgeGraph:
        """The student's channel graph after the embedding, on the teacher's topology."""
        feature = self._map(responses, self.student_feature, self.embed.conv.in_channels, "student")
        return channel_graph(self.embed(feature), like)

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        out = super().forward(teacher, student)
        if self.kd_weight:
            kd = self.kd(student.logits, teacher.logits.detach())
            out["kd"] = kd
            out["loss"] = out["loss"] + self.kd_weight * kd
        return out


@METHODS.register("ickd")
@preset(ICKDDistiller)
def ickd() -> ICKDDistiller:
    r"""Inter-channel correlation KD, ICKD-C (Liu et al., ICCV 2021), the authors' form.

    .. math::
        \mathcal{L} = \mathrm{CE} + \frac{w}{B C} \sum_{b} \big\| \hat M^s_b - \hat M^t_b
            \big\|_F^2 + w_{kd}\,\mathrm{KD}_\tau

    on the last stage's map, the student's embedded to the teacher's :math:`C` channels
    by a 1x1 convolution and batch norm; :math:`\hat M_b` the row-normalised channel
    correlations of sample :math:`b` (:class:`ICKDDistiller`).

    Parameters
    ----------
    teacher_channels, student_channels : dict of str to int
        The tapped features' channels (required; the trainer passes them).
    teacher_feature, student_feature : str, optional
        Default: the last tapped feature of each model.
    weight : float
        2.5 (the README's ``-b 2.5``).
    kd_weight : float
        1 (``-a 1``, ICKD-C with KL); 0 for ICKD-C without KL.
    temperature : float
        4.
    ce_weight : float
        1.

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> distiller = ickd(teacher_channels={"layer3": 16}, student_channels={"layer3": 8})
    >>> t = Responses(torch.randn(4, 10), features={"layer3": torch.rand(4, 16, 2, 2)})
    >>> s = Responses(torch.randn(4, 10), features={"layer3": torch.rand(4, 8, 2, 2)})
    >>> sorted(distiller(t, s))
    ['ickd', 'kd', 'loss']
    """
