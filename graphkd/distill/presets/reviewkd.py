"""ReviewKD (Chen et al., CVPR 2021): deeper student stages review shallower ones."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.inputs import shaped_feature
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset, written_for
from graphkd.distill.stage_pairs import chosen_features, sample_graph
from graphkd.distill.warmup import linear_warmup
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import Metric
from graphkd.responses import Responses, check_finite

#: The level name standing for the pooled embedding, seen as a ``(D, 1, 1)`` map.
EMBEDDING = "embedding"


class HierarchicalContextLoss(Metric):
    r"""ReviewKD's hierarchical context loss between two maps of one shape.

    The MSE of the maps and of their average-pooled versions at each size
    :math:`l \in` ``levels`` smaller than the maps' height, the :math:`j`-th pooled size
    weighted :math:`2^{-j}`, normalised by the sum of the weights:

    .. math::
        \ell = \frac{\mathrm{MSE}(s, t) + \sum_{j \ge 1} 2^{-j}\,
                 \mathrm{MSE}\big(P_{l_j}(s), P_{l_j}(t)\big)}
                {1 + \sum_{j \ge 1} 2^{-j}}

    (:math:`P_l` adaptive average pooling to :math:`l \times l`; a 1x1 map has no pooled
    terms).

    Parameters
    ----------
    levels : sequence of int
        Pooled sizes, tried in order (``(4, 2, 1)``).
    check_finite : bool
        Reject NaN/Inf inputs.

    Shapes: ``student`` and ``teacher`` ``(B, C, H, W)``, equal.

    Example
    -------
    >>> import torch
    >>> metric = HierarchicalContextLoss()
    >>> float(metric(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)))  # (1 + 0.5) / 1.5
    1.0
    """

    def __init__(self, levels: Sequence[int] = (4, 2, 1), check_finite: bool = True) -> None:
        super().__init__(check_finite)
        self.levels = tuple(int(level) for level in levels)

    def forward(
        self, student: Tensor, teacher: Tensor, graph: Optional[KnowledgeGraph] = None
    ) -> Tensor:
        self.check_inputs(student, teacher)
        height = student.shape[2]
        total = F.mse_loss(student, teacher)
        weight, weights = 1.0, 1.0
        for size in self.levels:
            if size >= height:
                continue
            weight /= 2.0
            pooled = F.mse_loss(
                F.adaptive_avg_pool2d(student, size), F.adaptive_avg_pool2d(teacher, size)
            )
            total = total + weight * pooled
            weights += weight
        return total / weights


class AttentionFusion(nn.Module):
    r"""ReviewKD's attention-based fusion (ABF) of one student level.

    The level's map goes through a 1x1 convolution and batch norm to ``mid_channels``;
    with ``fuse``, the residual from the deeper level is resized (nearest) to the map's
    size and the two are mixed by two sigmoid attention maps of a 1x1 convolution over
    their concatenation:

    .. math::
        x = \mathrm{BN}(W_1 f), \qquad
        (a, b) = \sigma\big(W_a [x; r] + c\big), \qquad
        x \leftarrow a \odot x + b \odot r .

    The result, resized (nearest) to the teacher level's size, is the residual passed to
    the next shallower level, and a 3x3 convolution and batch norm of it to
    ``out_channels`` is the level's output.

    Shapes: ``x`` ``(B, C_in, H, W)``, ``residual`` ``(B, C_mid, H', W')``; returns
    ``(B, C_out, H_o, W_o)`` and ``(B, C_mid, H_o, W_o)``.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, fuse: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.attention = nn.Conv2d(2 * mid_channels, 2, kernel_size=1) if fuse else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform (``a=1``) convolutions 1 and 2 as the reference, PyTorch's
        default for the attention convolution, unit batch norms."""
        nn.init.kaiming_uniform_(self.conv1.weight, a=1)
        nn.init.kaiming_uniform_(self.conv2.weight, a=1)
        self.bn1.reset_parameters()
        self.bn2.reset_parameters()
        if self.attention is not None:
            self.attention.reset_parameters()

    def forward(
        self, x: Tensor, residual: Optional[Tensor], out_size: Tuple[int, int]
    ) -> Tuple[Tensor, Tensor]:
        x = self.bn1(self.conv1(x))
        if self.attention is not None:
            if residual is None:
                raise ValueError("a fusing level needs the residual of the deeper level")
            residual = F.interpolate(residual, size=tuple(x.shape[-2:]), mode="nearest")
            gates = torch.sigmoid(self.attention(torch.cat([x, residual], dim=1)))
            x = x * gates[:, 0:1] + residual * gates[:, 1:2]
        if tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode="nearest")
        return self.bn2(self.conv2(x)), x


def _levels(
    shapes: Optional[Dict[str, Sequence[int]]],
    dim: Optional[int],
    names: Optional[Sequence[str]],
    who: str,
) -> Tuple[List[str], List[Tuple[int, int, int]]]:
    if shapes is None or dim is None:
        raise ValueError(
            f"reviewkd needs {who}_shapes (the (C, H, W) of each tapped stage output) and "
            f"{who}_dim (the pooled embedding's width); the trainer passes both from the "
            "tapped models"
        )
    chosen = chosen_features(shapes, names, who, f"{who}_shapes")
    bad = [name for name in chosen if len(tuple(shapes[name])) != 3]
    if bad:
        raise ValueError(
            f"reviewkd reviews spatial maps (C, H, W), but the {who}'s features {bad} have "
            "other shapes; name convolutional stage outputs"
        )
    levels = [tuple(int(v) for v in shapes[name]) for name in chosen]
    return [*chosen, EMBEDDING], [*levels, (int(dim), 1, 1)]  # type: ignore[list-item]


class ReviewKDDistiller(GraphMatchingDistiller):
    r"""Knowledge review (Chen et al., CVPR 2021) with attention fusion and HCL.

    The levels of each network are its chosen stage outputs, shallow to deep, and its
    pooled embedding as a :math:`D \times 1 \times 1` map. The student's levels are
    reviewed from the deepest up: level :math:`L` passes through its
    :class:`AttentionFusion` alone, and each shallower level :math:`k` fuses its own map
    with the residual of level :math:`k + 1`, so every output :math:`o_k` sees the
    student's levels :math:`k, \dots, L`. Each :math:`o_k` has the shape of the teacher's
    level :math:`k`, and

    .. math::
        \mathcal{L} = w\, \min\!\Big(\frac{e + 1}{E_w}, 1\Big)
            \sum_{k=1}^{L} \mathrm{HCL}\big(o_k, t_k\big)

    (:class:`HierarchicalContextLoss`; :math:`e` the 0-based epoch from
    :meth:`~graphkd.distill.Distiller.set_epoch`, :math:`E_w` = ``warmup_epochs``).

    Graph form: each network's graph has the samples as nodes; node :math:`i` carries
    field ``level<k>`` per level (the teacher's maps, the student's reviewed outputs),
    and level :math:`k` is one node term, teacher node :math:`i` against student node
    :math:`i`. The review itself is the student builder: within each sample, edges from
    every level to the next shallower one carry the residual.

    Parameters
    ----------
    teacher_shapes, student_shapes : dict of str to (C, H, W)
        Every tapped feature's shape (the trainer passes them).
    teacher_dim, student_dim : int
        Widths of the pooled embeddings (the trainer passes them).
    teacher_features, student_features : sequence of str, optional
        The stage outputs reviewed, shallow to deep, as many for each network (default:
        every tapped feature).
    weight : float
        :math:`w` (1).
    warmup_epochs : int
        :math:`E_w` (20; 0: no warm-up).
    mid_channels : int, optional
        Width of the fusion (default ``min(512, student_dim)``, the reference's rule).
    ce_weight, check_inputs
        As for every :class:`~graphkd.GraphMatchingDistiller` (1, ``True``).
    """

    graph_name = "samples"

    def __init__(
        self,
        teacher_shapes: Optional[Dict[str, Sequence[int]]] = None,
        student_shapes: Optional[Dict[str, Sequence[int]]] = None,
        teacher_dim: Optional[int] = None,
        student_dim: Optional[int] = None,
        teacher_features: Optional[Sequence[str]] = None,
        student_features: Optional[Sequence[str]] = None,
        weight: float = 1.0,
        warmup_epochs: int = 20,
        mid_channels: Optional[int] = None,
        ce_weight: float = 1.0,
        check_inputs: bool = True,
    ) -> None:
        teacher_names, teacher_levels = _levels(
            teacher_shapes, teacher_dim, teacher_features, "teacher"
        )
        student_names, student_levels = _levels(
            student_shapes, student_dim, student_features, "student"
        )
        if len(teacher_names) != len(student_names):
            raise ValueError(
                f"reviewkd pairs levels by order, but the teacher has {len(teacher_names) - 1} "
                f"stage outputs {teacher_names[:-1]} and the student "
                f"{len(student_names) - 1} {student_names[:-1]}; select as many of each with "
                "teacher_features=[...] and student_features=[...]"
            )
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0 epochs, got {warmup_epochs}")
        terms = [
            MatchTerm(
                f"hcl{k + 1}",
                field=f"level{k + 1}",
                on="nodes",
                metric=HierarchicalContextLoss(check_finite=False),
                weight=weight,
            )
            for k in range(len(teacher_names))
        ]
        super().__init__(self.teacher_graph, self.student_graph, terms, ce_weight, check_inputs)
        self.teacher_names, self.teacher_levels = teacher_names, teacher_levels
        self.student_names, self.student_levels = student_names, student_levels
        self.warmup_epochs = int(warmup_epochs)
        mid = min(512, student_levels[-1][0]) if mid_channels is None else int(mid_channels)
        last = len(student_levels) - 1
        self.fusions = nn.ModuleList(
            AttentionFusion(s[0], mid, t[0], fuse=k < last)
            for k, (s, t) in enumerate(zip(student_levels, teacher_levels))
        )

    def warmup_factor(self) -> float:
        """:math:`\\min((e + 1) / E_w, 1)` at the current epoch (1 without a warm-up)."""
        return linear_warmup(self.epoch, self.warmup_epochs)

    def _maps(self, responses: Responses, names: List[str], levels: List, who: str) -> List[Tensor]:
        maps = [
            shaped_feature(responses, name, shape, who, "reviewkd")
            for name, shape in zip(names[:-1], levels[:-1])
        ]
        if self.check_inputs:
            check_finite({f"{who} feature {name!r}": m for name, m in zip(names, maps)})
        if responses.embedding is None:
            raise ValueError(
                f"the {who}'s responses carry no pooled embedding; reviewkd reviews it as "
                "its deepest level: tap the penultimate layer (graphkd.models.tap does for "
                "zoo models)"
            )
        width = levels[-1][0]
        if responses.embedding.dim() != 2 or responses.embedding.shape[1] != width:
            raise ValueError(
                f"the {who}'s embedding has shape {tuple(responses.embedding.shape)} but "
                f"{who}_dim is {width}; pass the pooled embedding's width"
            )
        maps.append(responses.embedding[:, :, None, None])
        return maps

    def review(self, maps: List[Tensor]) -> List[Tensor]:
        """The student's reviewed outputs, shallow to deep, from its level maps (the
        last the embedding as ``(B, D, 1, 1)``)."""
        outputs: List[Tensor] = []
        residual: Optional[Tensor] = None
        for fusion, feature, target in zip(
            reversed(self.fusions), reversed(maps), reversed(self.teacher_levels)
        ):
            out, residual = fusion(feature, residual, target[1:])
            outputs.append(out)
        return outputs[::-1]

    def teacher_graph(self, responses: Responses) -> KnowledgeGraph:
        """Samples as nodes with the teacher's levels, ``ndata["level<k>"]``."""
        maps = self._maps(responses, self.teacher_names, self.teacher_levels, "teacher")
        return _sample_nodes(maps)

    def student_graph(self, responses: Responses) -> KnowledgeGraph:
        """Samples as nodes with the student's reviewed levels, ``ndata["level<k>"]``."""
        maps = self._maps(responses, self.student_names, self.student_levels, "student")
        return _sample_nodes(self.review(maps))

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        """``{"loss": w min((e+1)/E_w, 1) sum_k hcl_k, "hcl1": ..., ...}`` (the level
        terms unweighted and without the warm-up)."""
        out = super().forward(teacher, student)
        out["loss"] = self.warmup_factor() * out["loss"]
        return out


def _sample_nodes(maps: List[Tensor]) -> KnowledgeGraph:
    return sample_graph({f"level{k + 1}": m for k, m in enumerate(maps)})


@METHODS.register("reviewkd")
@written_for(240)
@preset(ReviewKDDistiller)
def reviewkd() -> ReviewKDDistiller:
    r"""Distilling knowledge via knowledge review (Chen et al., CVPR 2021), mdistiller's form.

    .. math::
        \mathcal{L} = w\, \min\!\Big(\frac{e + 1}{20}, 1\Big)
            \sum_{k} \mathrm{HCL}(o_k, t_k)

    over the stage outputs and the pooled embedding, the student's reviewed deep to
    shallow by attention fusion (:class:`ReviewKDDistiller`).

    Parameters
    ----------
    teacher_shapes, student_shapes : dict of str to (C, H, W)
        Tapped features' shapes (required; the trainer passes them).
    teacher_dim, student_dim : int
        Embedding widths (required; the trainer passes them).
    teacher_features, student_features : sequence of str, optional
        The reviewed stage outputs (default: all tapped ones).
    weight : float
        1 (mdistiller's default; its CIFAR-100 resnet32x4 config uses 5).
    warmup_epochs : int
        20 epochs (1 on ImageNet).
    mid_channels : int, optional
        ``min(512, student_dim)``.
    ce_weight : float
        1.

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> shapes = {"layer1": (4, 8, 8), "layer2": (8, 4, 4)}
    >>> distiller = reviewkd(shapes, shapes, teacher_dim=8, student_dim=8)
    >>> def responses():
    ...     maps = {k: torch.rand(3, *s) for k, s in shapes.items()}
    ...     return Responses(torch.randn(3, 10), embedding=torch.rand(3, 8), features=maps)
    >>> sorted(distiller(responses(), responses()))
    ['hcl1', 'hcl2', 'hcl3', 'loss']
    >>> distiller.set_epoch(19)
    >>> distiller.warmup_factor()
    1.0
    """
