"""AT (Zagoruyko & Komodakis, ICLR 2017): match spatial attention maps of every stage."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.distiller import GraphMatchingDistiller, _validate
from graphkd.distill.inputs import pool_to_smaller, stage_maps
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses, check_finite


def attention_map(features: Tensor, p: float = 2.0) -> Tensor:
    r"""Each sample's spatial attention vector: the channel mean of the maps' ``p``-th
    powers, flattened and L2-normalised.

    .. math::
        q = \frac{\operatorname{vec}\big(\tfrac{1}{C}\sum_c A_c^{\,p}\big)}
                 {\max\big(\|\operatorname{vec}(\tfrac{1}{C}\sum_c A_c^{\,p})\|_2,\ 10^{-12}\big)}

    Parameters
    ----------
    features : Tensor
        ``(B, C, H, W)`` maps (post-ReLU stage outputs, so that non-integer ``p`` is
        defined).
    p : float
        The power (2).

    Returns
    -------
    Tensor
        ``(B, H W)``, unit rows (zero rows stay zero).

    Example
    -------
    >>> q = attention_map(torch.rand(2, 8, 4, 4))
    >>> tuple(q.shape), bool(torch.allclose(q.norm(dim=1), torch.ones(2)))
    ((2, 16), True)
    """
    return F.normalize(features.pow(p).mean(1).flatten(1), dim=1)


def resolve_pairs(
    method: str,
    teacher_channels: Optional[Dict[str, int]],
    student_channels: Optional[Dict[str, int]],
    teacher_features: Optional[Sequence[str]],
    student_features: Optional[Sequence[str]],
) -> Tuple[List[str], List[str]]:
    """The paired teacher and student stage outputs a feature-map method reads.

    Given lists are used as they are (as many of each); a side left out defaults to the
    keys of its channel dict (the tapped stage outputs the trainer reports), and when
    both are left out the deeper sides are cut to the :math:`\\min(n_t, n_s)` deepest
    stages of each.
    """
    sides = []
    for who, channels, features in (
        ("teacher", teacher_channels, teacher_features),
        ("student", student_channels, student_features),
    ):
        if features is not None:
            names = list(features)
        elif channels is not None:
            names = list(channels)
        else:
            raise ValueError(
                f"{method} needs to know which of the {who}'s tapped stage outputs to read: "
                f"pass {who}_features=[...] (names of tapped features, shallow to deep) or "
                f"{who}_channels (the trainer passes it from the tapped models)"
            )
        if not names:
            raise ValueError(f"{method} needs at least one {who} stage output, got none")
        if len(set(names)) != len(names):
            raise ValueError(f"{method}: the {who}'s stage outputs repeat a name: {names}")
        sides.append(names)
    teacher, student = sides
    if teacher_features is None and student_features is None:
        count = min(len(teacher), len(student))
        teacher, student = teacher[len(teacher) - count :], student[len(student) - count :]
    check_pairing(teacher, student, method)
    return teacher, student


def term_name(method: str, *features: str) -> str:
    """The output key of a term over tapped ``features``: ``"<method>_<feature>_..."``,
    dots (module paths such as ``block2.layer.0.relu1``) written as underscores, since
    term names key module dicts."""
    return "_".join([method, *features]).replace(".", "_")


def check_pairing(teacher: List[str], student: List[str], method: str) -> None:
    """Teacher and student stage outputs are paired by order: as many of each."""
    if len(teacher) != len(student):
        raise ValueError(
            f"{method} pairs the stage outputs by order, but the teacher has {len(teacher)} "
            f"{teacher} and the student {len(student)} {student}; select as many of each "
            "with teacher_features=[...] and student_features=[...]"
        )


def paired_maps(
    teacher: Responses,
    student: Responses,
    teacher_features: List[str],
    student_features: List[str],
    method: str,
    check_inputs: bool,
) -> List[Tuple[Tensor, Tensor]]:
    """``[(student map, teacher map), ...]`` of the paired stage outputs, the teacher's
    detached; with ``check_inputs`` the maps are rejected when they hold NaN or Inf."""
    if check_inputs:
        _validate(teacher, student)
    t_maps = stage_maps(teacher, teacher_features, "teacher", method)
    s_maps = stage_maps(student, student_features, "student", method)
    if check_inputs:
        check_finite(
            {
                **{f"teacher feature {n!r}": m for n, m in zip(teacher_features, t_maps)},
                **{f"student feature {n!r}": m for n, m in zip(student_features, s_maps)},
            }
        )
    return [(s, t.detach()) for s, t in zip(s_maps, t_maps)]


def _sample_nodes(fields: Dict[str, Tensor], batch: int, device: torch.device) -> KnowledgeGraph:
    none = torch.empty(0, dtype=torch.long, device=device)
    return KnowledgeGraph(none, none, batch, ndata=fields)


class ATDistiller(GraphMatchingDistiller):
    r"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017) as node terms.

    The samples of a batch are the nodes of an edgeless graph on each side; stage pair
    :math:`j` (teacher map :math:`A^t_j`, student map :math:`A^s_j`, paired by order)
    gives every node the field ``"at_<name>"``: its spatial attention vector
    :func:`attention_map`, after the larger of the two maps has been average-pooled to
    the smaller's spatial size. The loss sums a mean squared error per pair:

    .. math::
        \mathcal{L} = w \sum_j \frac{1}{B\,H_j W_j} \sum_i
            \big\|q(A^s_{j,i}) - q(A^t_{j,i})\big\|_2^2

    Parameters
    ----------
    teacher_features, student_features : list of str
        The stage outputs read, shallow to deep, as many of each.
    p : float
        Power of the attention maps (2).
    weight : float
        :math:`w` (1000).
    ce_weight : float
        Weight of the student's cross-entropy (1).
    check_inputs : bool
        Reject NaN/Inf logits and feature maps with a ``ValueError`` naming the tensor.

    Example
    -------
    >>> names = ["layer1", "layer2"]
    >>> distiller = ATDistiller(names, names)
    >>> def responses():
    ...     maps = {"layer1": torch.rand(4, 8, 8, 8), "layer2": torch.rand(4, 16, 4, 4)}
    ...     return Responses(torch.randn(4, 10), features=maps)
    >>> sorted(distiller(responses(), responses()))
    ['at_layer1', 'at_layer2', 'loss']
    """

    graph_name = "attention"

    def __init__(
        self,
        teacher_features: Sequence[str],
        student_features: Sequence[str],
        p: float = 2.0,
        weight: float = 1000.0,
        ce_weight: float = 1.0,
        check_inputs: bool = True,
    ) -> None:
        self.teacher_features = list(teacher_features)
        self.student_features = list(student_features)
        check_pairing(self.teacher_features, self.student_features, "at")
        self.fields = [term_name("at", name) for name in self.teacher_features]
        terms = [MatchTerm(field, field, "nodes", "mse", weight) for field in self.fields]
        super().__init__(self._unused, terms=terms, ce_weight=ce_weight, check_inputs=check_inputs)
        self.p = p

    @staticmethod
    def _unused(responses: Responses) -> KnowledgeGraph:
        raise ValueError("ATDistiller builds both graphs together in build_graphs")

    def _graph_pair(
        self, teacher: Responses, student: Responses
    ) -> Tuple[KnowledgeGraph, KnowledgeGraph]:
        """Teacher and student sample graphs with one attention field per stage pair
        (the pair's maps are pooled to a common size, so both sides are built here)."""
        pairs = paired_maps(
            teacher, student, self.teacher_features, self.student_features, "at", self.check_inputs
        )
        s_fields, t_fields = {}, {}
        for field, (s_map, t_map) in zip(self.fields, pairs):
            s_map, t_map = pool_to_smaller(s_map, t_map)
            with torch.no_grad():
                t_fields[field] = attention_map(t_map, self.p)
            s_fields[field] = attention_map(s_map, self.p)
        batch, device = student.batch_size, student.logits.device
        return _sample_nodes(t_fields, batch, device), _sample_nodes(s_fields, batch, device)


@METHODS.register("at")
def at(
    teacher_channels: Optional[Dict[str, int]] = None,
    student_channels: Optional[Dict[str, int]] = None,
    teacher_features: Optional[Sequence[str]] = None,
    student_features: Optional[Sequence[str]] = None,
    p: float = 2.0,
    weight: float = 1000.0,
    ce_weight: float = 1.0,
) -> ATDistiller:
    r"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017), mdistiller's settings.

    .. math::
        \mathcal{L} = w \sum_j \frac{1}{B\,H_j W_j} \sum_i
            \big\|q(A^s_{j,i}) - q(A^t_{j,i})\big\|_2^2, \qquad
        q(A) = \frac{\operatorname{vec}(\tfrac{1}{C}\sum_c A_c^{\,p})}
                    {\|\operatorname{vec}(\tfrac{1}{C}\sum_c A_c^{\,p})\|_2}

    summed over the paired stage outputs :math:`j` (see :class:`ATDistiller`).

    Parameters
    ----------
    teacher_channels, student_channels : dict of str to int, optional
        The tapped stage outputs (the trainer passes them); their keys are the default
        stage lists.
    teacher_features, student_features : sequence of str, optional
        The stage outputs to pair, shallow to deep (default: every tapped one, the
        deeper network cut to the other's count of deepest stages). The reference reads
        every stage after the stem: for the zoo's ResNets and WRNs that is every tapped
        stage; for VGGs name ``["relu1", "relu2", "relu3", "relu4"]``.
    p : float
        2.
    weight : float
        1000.
    ce_weight : float
        1.

    Example
    -------
    >>> channels = {"layer1": 64, "layer2": 128, "layer3": 256}
    >>> distiller = at(teacher_channels=channels, student_channels=channels)
    >>> distiller.teacher_features, distiller.terms[0].weight
    (['layer1', 'layer2', 'layer3'], 1000.0)
    """
    teacher_names, student_names = resolve_pairs(
        "at", teacher_channels, student_channels, teacher_features, student_features
    )
    return ATDistiller(
        teacher_names,
        student_names,
        p=p,
        weight=weight,
        ce_weight=ce_weight,
    )
