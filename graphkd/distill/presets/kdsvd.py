"""KD-SVD (Lee et al., ECCV 2018): relate the singular vectors of consecutive stages."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, preset
from graphkd.distill.presets.fsp import flow_graph
from graphkd.distill.stage_pairs import ChannelPairDistiller, StagePairs, consecutive_term_names
from graphkd.graphs.svd_embedding import svd_embedding, top_right_singular_vectors
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses

LAYOUTS = ("channels", "width")
HALF = (torch.float16, torch.bfloat16)


def singular_matrix(features: Tensor, layout: str = "channels") -> Tensor:
    """The ``(B, D, P)`` reading of ``(B, C, H, W)`` maps whose right-singular vectors
    KD-SVD relates (:func:`~graphkd.graphs.svd_embedding.top_right_singular_vectors`
    reads ``(B, D, P)`` as :math:`P \\times D` matrices).

    ``"channels"``: :math:`X \\in \\mathbb{R}^{HW \\times C}`, vectors over the channels
    (the paper, RepDistiller); ``"width"``: :math:`X \\in \\mathbb{R}^{CH \\times W}`,
    vectors over the width (mdistiller's reading of its ``(B, C, H, W)`` maps).
    """
    if layout == "channels":
        return features
    batch, channels, height, width = features.shape
    return features.reshape(batch, channels * height, width).transpose(1, 2)


def rbf_edges(upper: Tensor, lower: Tensor) -> Tensor:
    r"""``(B, D_l, D_u, k)``: :math:`\exp(-(u_b - l_a)^2 / 8)` for every entry :math:`a` of
    the lower stage's (scaled) singular vectors and :math:`b` of the upper stage's.

    Parameters
    ----------
    upper, lower : Tensor
        ``(B, k, D_u)`` and ``(B, k, D_l)``.
    """
    difference = upper.unsqueeze(2) - lower.unsqueeze(3)  # (B, k, D_l, D_u)
    return torch.exp(-difference.square() / 8.0).permute(0, 2, 3, 1)


class KDSVDDistiller(ChannelPairDistiller):
    r"""KD-SVD (Lee, Kim and Song, ECCV 2018): singular-vector graphs between stages.

    Each stage output of a sample is summarised by its top ``k`` right-singular vectors
    :math:`v_1 \dots v_k` (the teacher's by
    :func:`~graphkd.graphs.svd_embedding.top_right_singular_vectors`; the student's by
    :func:`~graphkd.graphs.svd_embedding.svd_embedding`, each the best aligned of its top
    ``k + 3`` with the teacher's, sign matched), each scaled by the teacher's normalised
    singular value :math:`\hat\sigma_j = \sigma_j / \|\sigma_{1..k}\|` (1 for ``k = 1``).
    The entries of the vectors are the **nodes** of a stage; consecutive stages
    :math:`(l, u)` are joined, per sample, by a complete bipartite graph from the
    :math:`D_l` nodes of the lower stage to the :math:`D_u` of the upper one, whose edges
    carry the radial basis function of the entries' difference, one per vector
    (:func:`rbf_edges`, ``edata["rbf"]``). Teacher and student share the topology and

    .. math::
        \mathcal{L} = w \sum_{(l, u)} \frac{1}{B} \sum_{i, a, b, j}
            \Big(e^{-(\hat v^s_{u, j, b} - \hat v^s_{l, j, a})^2 / 8}
               - e^{-(\hat v^t_{u, j, b} - \hat v^t_{l, j, a})^2 / 8}\Big)^2

    Parameters
    ----------
    k : int
        Singular vectors per stage (1).
    weight : float
        :math:`w` (1).
    layout : {"channels", "width"}
        Which singular vectors (:func:`singular_matrix`): over the channels (default, the
        paper and RepDistiller) or over the width (mdistiller).
    svd_eps : float
        Gradient regularisation of the student's singular vectors (``1e-4``; 0 is the
        exact gradient, infinite at repeated singular values).
    **options
        The pairing options (at least 2 stages) and ``ce_weight``, ``check_inputs``:
        those of :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`.

    Example
    -------
    >>> names = ["layer1", "layer2", "layer3"]
    >>> maps = {name: torch.rand(4, 8, 16 // 2**k, 16 // 2**k) for k, name in enumerate(names)}
    >>> responses = Responses(torch.randn(4, 10), features=maps)
    >>> distiller = KDSVDDistiller(teacher_features=names, student_features=names)
    >>> sorted(distiller(responses, responses))
    ['kdsvd_layer1_layer2', 'kdsvd_layer2_layer3', 'loss']
    """

    def __init__(
        self,
        k: int = 1,
        weight: float = 1.0,
        layout: str = "channels",
        svd_eps: float = 1e-4,
        **options: Any,
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"kdsvd: layout must be one of {LAYOUTS}, got {layout!r}")
        if k < 1:
            raise ValueError(f"kdsvd: k must be >= 1 singular vector, got {k}")

        def rbf_terms(pairs: StagePairs) -> List[MatchTerm]:
            return [
                MatchTerm(name, "rbf", "edges", "mse", weight, options={"reduction": "per_sample"})
                for name in consecutive_term_names("kdsvd", pairs.teacher)
            ]

        super().__init__("kdsvd", rbf_terms, **options)
        self.names = [term.name for term in self.terms]
        self.k = k
        self.layout = layout
        self.svd_eps = svd_eps

    def singular_vectors(
        self, teacher: Responses, student: Responses
    ) -> List[Tuple[Tensor, Tensor]]:
        """Per stage, the student's and the teacher's scaled singular vectors
        ``(B, k, D)`` (the teacher's without gradient)."""
        out = []
        for stage, (s_map, t_map) in enumerate(self.paired_maps(teacher, student)):
            s_x, t_x = singular_matrix(s_map, self.layout), singular_matrix(t_map, self.layout)
            if s_x.dtype in HALF:  # no eigendecomposition in half precision: use float32
                s_x, t_x = s_x.float(), t_x.float()
            if s_x.shape[1] != t_x.shape[1]:
                raise ValueError(
                    f"kdsvd compares singular vectors of equal width, but the teacher's "
                    f"{self.teacher_features[stage]!r} gives {t_x.shape[1]} and the "
                    f"student's {self.student_features[stage]!r} {s_x.shape[1]} (layout "
                    f"{self.layout!r}); pair stages of equal "
                    f"{'channels' if self.layout == 'channels' else 'widths'}"
                )
            with torch.no_grad():
                t_vectors = top_right_singular_vectors(t_x, self.k, self.svd_eps)
                t_flat = t_x.flatten(2).transpose(1, 2)  # (B, P, D)
                sigma = (t_flat @ t_vectors.transpose(1, 2)).norm(dim=1)  # (B, k)
                scale = F.normalize(sigma, dim=1).unsqueeze(-1)
            s_vectors = svd_embedding(
                s_x, reference=t_vectors, candidates=self.k + 3, eps=self.svd_eps
            )
            out.append((s_vectors * scale, t_vectors * scale))
        return out

    def build_graphs(
        self, teacher: Responses, student: Responses
    ) -> Tuple[Dict[str, KnowledgeGraph], Dict[str, KnowledgeGraph]]:
        """Per pair of consecutive stages (keyed ``"kdsvd_<lower>_<upper>"``), the
        teacher's and the student's bipartite graphs of singular-vector entries with
        ``edata["rbf"]`` ``(E, k)``."""
        vectors = self.singular_vectors(teacher, student)
        teacher_graphs, student_graphs = {}, {}
        for number, name in enumerate(self.names):
            (s_low, t_low), (s_high, t_high) = vectors[number], vectors[number + 1]
            teacher_graphs[name] = flow_graph(rbf_edges(t_high, t_low), field="rbf")
            student_graphs[name] = flow_graph(
                rbf_edges(s_high, s_low), teacher_graphs[name], field="rbf"
            )
        return teacher_graphs, student_graphs

    def forward(self, teacher: Responses, student: Responses) -> Dict[str, Tensor]:
        teacher_graphs, student_graphs = self.build_graphs(teacher, student)
        values: Dict[str, Tensor] = {}
        total: Optional[Tensor] = None
        for term in self.terms:
            value = self._match(term, teacher_graphs[term.name], student_graphs[term.name])
            values[term.name] = value
            total = term.weight * value if total is None else total + term.weight * value
        assert total is not None
        return {"loss": total, **values}


@METHODS.register("kdsvd")
@preset(KDSVDDistiller)
def kdsvd() -> KDSVDDistiller:
    r"""KD-SVD (Lee, Kim and Song, ECCV 2018) with mdistiller's settings.

    .. math::
        \mathcal{L} = w \sum_{(l, u)} \frac{1}{B} \sum_{i, a, b, j}
            \Big(e^{-(\hat v^s_{u, j, b} - \hat v^s_{l, j, a})^2 / 8}
               - e^{-(\hat v^t_{u, j, b} - \hat v^t_{l, j, a})^2 / 8}\Big)^2

    over consecutive paired stages, :math:`\hat v` the top ``k`` right-singular vectors
    scaled by the teacher's normalised singular values (see :class:`KDSVDDistiller`).

    Parameters
    ----------
    k : int
        1.
    weight : float
        1.
    layout : {"channels", "width"}
        ``"channels"`` (the paper, RepDistiller) or ``"width"`` (mdistiller's reading).
    svd_eps : float
        ``1e-4``.
    teacher_channels, student_channels, teacher_features, student_features, ce_weight, check_inputs
        Those of :class:`~graphkd.distill.stage_pairs.ChannelPairDistiller`; for VGGs the
        reference reads ``["relu1", "relu2", "relu3", "relu4"]``.

    Example
    -------
    >>> channels = {"layer1": 64, "layer2": 128, "layer3": 256}
    >>> distiller = kdsvd(teacher_channels=channels, student_channels=channels)
    >>> distiller.names, distiller.k
    (['kdsvd_layer1_layer2', 'kdsvd_layer2_layer3'], 1)
    """
