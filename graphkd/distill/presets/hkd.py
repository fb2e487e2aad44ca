"""HKD (Zhou et al., ICCV 2021): kNN prediction graphs, TAGConv codes, contrastive memory banks."""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any, Dict

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.distill.bank_distiller import BankDistiller, kd_terms
from graphkd.distill.inputs import embedding_of_width
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.method_registry import METHODS, measured_short, preset
from graphkd.graphs.knn import knn_graph
from graphkd.graphs.projector import Projector
from graphkd.graphs.tagconv_encoder import TAGConvEncoder
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.metrics import InfoNCE
from graphkd.metrics.functional import info_nce_from_scores
from graphkd.responses import Responses

#: HKD's objectives: the reference implementation's and the paper's Eq. 10.
OBJECTIVES = ("reference", "paper")


class HKDGraph(torch.nn.Module):
    r"""One network's HKD graph: samples as nodes, kNN edges over its own predictions.

    .. math::
        e_i = \frac{W_e f_i + b_e}{\|W_e f_i + b_e\|_2}, \qquad
        \mathcal{E} = \{(j, i) : j \in \mathrm{kNN}_k(i)\},\quad
        d_{ij} = 1 - \cos\big(\mathrm{softmax}(z_i), \mathrm{softmax}(z_j)\big),

    .. math::
        g_i = \mathrm{TAGConvEncoder}(\mathcal{E}, e)_i
            = \mathrm{normalize}\Big(W \Big[e_i ; \frac{1}{k}\sum_{j \in \mathrm{kNN}_k(i)}
              e_j\Big] + b\Big)

    with :math:`f` the pooled penultimate features and :math:`z` the logits, read
    without gradient for the graph; each node is among its own :math:`k` neighbours and
    edges point neighbour -> node (in-degree :math:`k`, not symmetrised). A batch of
    fewer than ``max(k, 2)`` samples gets no edges and no ``"gnn"`` field.

    Parameters
    ----------
    dim : int
        Width of the network's embedding :math:`f`.
    embed_dim : int
        Width of :math:`e` and :math:`g` (default 128).
    k : int
        Neighbours per node, the node itself included (default 8).
    detach : bool
        Read the responses without gradient (for the teacher; default ``False``).

    Returns (forward)
    -----------------
    KnowledgeGraph
        ``B`` nodes with ``ndata["logits"]`` ``(B, C)``, ``ndata["embed"]`` and
        ``ndata["gnn"]`` ``(B, embed_dim)``.

    Example
    -------
    >>> import torch
    >>> from graphkd import Responses
    >>> builder = HKDGraph(dim=32, embed_dim=16, k=4)
    >>> graph = builder(Responses(torch.randn(10, 5), embedding=torch.randn(10, 32)))
    >>> graph.num_edges, tuple(graph.ndata["gnn"].shape)
    (40, (10, 16))
    """

    def __init__(self, dim: int, embed_dim: int = 128, k: int = 8, detach: bool = False) -> None:
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int (neighbours per node), got {k!r}")
        self.dim = dim
        self.k = k
        self.detach = detach
        self.embed = Projector(dim, embed_dim, bias=True, normalise=True)
        self.encoder = TAGConvEncoder(embed_dim, embed_dim)

    def reset_parameters(self) -> None:
        """Re-initialise the embed head and the encoder."""
        self.embed.reset_parameters()
        self.encoder.reset_parameters()

    def forward(self, responses: Responses) -> KnowledgeGraph:
        if self.detach:
            responses = responses.detach()
        features = embedding_of_width(responses, self.dim, "this HKD graph")
        embed = self.embed(features)
        batch = responses.batch_size
        ndata = {"logits": responses.logits, "embed": embed}
        if batch < max(self.k, 2):
            none = torch.empty(0, dtype=torch.long, device=embed.device)
            return KnowledgeGraph(none, none, batch, ndata=ndata)
        graph = knn_graph(
            F.softmax(responses.logits.detach(), dim=1), self.k, metric="cosine", include_self=True
        )
        graph.ndata.update(ndata)
        graph.ndata["gnn"] = self.encoder(graph, embed)
        return graph


class HKDDistiller(BankDistiller):
    r"""Holistic knowledge distillation (Zhou et al., ICCV 2021) with memory banks.

    Teacher and student each build an :class:`HKDGraph` (separate embed heads and
    TAGConv encoders, trained with the student). Two memory banks hold one embedding
    per training sample: :math:`M_s` the student's :math:`e^s`, :math:`M_t` the
    teacher's :math:`e^t`. With :math:`\ell(a, p, N) = -\log \frac{\exp(a \cdot p/T)}
    {\exp(a \cdot p/T) + \sum_{n \in N} \exp(a \cdot n/T)}`, the positive at index 0,
    the batch mean over samples :math:`i` and :math:`K` negatives
    :math:`N_i = \{j_{i1} .. j_{iK}\}` drawn from other classes:

    .. math::
        \mathcal{L}_{ind} = \ell\big(e^s_i,\ M_t[i],\ M_s[N_i]\big)
                          + \ell\big(e^t_i,\ M_s[i],\ M_t[N_i]\big)

    .. math::
        \mathcal{L}_{graph} = \ell\big(g^s_i,\ \bar p^s_i,\ M_s[N_i]\big)
                            + \ell\big(g^t_i,\ \bar p^t_i,\ M_t[N_i]\big),\quad
        \bar p^s_i = \mathrm{sg}\,\mathrm{normalize}\big(\lambda M_t[i] + (1-\lambda) g^t_i\big)

    (:math:`\bar p^t_i` symmetric, :math:`\lambda = 0.75`, sg = no gradient), and

    .. math::
        \mathcal{L} = \beta\,(\mathcal{L}_{ind} + \mathcal{L}_{graph}) + \alpha\,\mathcal{L}_{kd}

    besides the student's cross-entropy (``ce_weight`` 1). One draw of negatives per
    step serves all four anchors; the negatives are :math:`K` distinct samples of other
    classes (``replacement=True``: drawn with replacement). This is the reference
    implementation's objective (``objective="reference"``, the default): an anchor's
    negatives come from its *own* model's bank and the banks hold the individual
    embeddings :math:`e`.

    ``objective="paper"`` is the paper's Eq. 10 instead: the graph embeddings alone, each
    contrasted with the *other* network's graph embedding of the same sample as the
    positive (no bank mixing, gradient through both encoders) and with the other
    network's bank as the negatives, no individual term; the banks then hold the graph
    embeddings :math:`g`:

    .. math::
        \mathcal{L}_{graph} = \ell\big(g^s_i,\ g^t_i,\ M_t[N_i]\big)
                            + \ell\big(g^t_i,\ g^s_i,\ M_s[N_i]\big),
        \qquad M_s \leftarrow g^s,\ M_t \leftarrow g^t

    A batch smaller than ``k`` skips :math:`\mathcal{L}_{graph}` (reported as 0) with one
    warning, and, as in the reference implementation, leaves the banks untouched.

    The contrastive terms are listed in ``terms`` (metric :class:`~graphkd.metrics.InfoNCE`,
    which holds :math:`T`) and are evaluated from :meth:`MemoryBank.scores`, so the
    ``(B, K, D)`` negatives are only gathered when the bank is much larger than ``K``.
    After the optimiser step, :meth:`after_step` writes the embeddings of the last
    forward pass into the banks (:class:`~graphkd.distill.bank_distiller.BankDistiller`):
    :math:`M_s[i] \leftarrow \mathrm{normalize}(0.9 M_s[i] + 0.1 e^s_i)`, likewise
    :math:`M_t` with :math:`e^t` (:math:`g` instead of :math:`e` with
    ``objective="paper"``); nothing after a batch smaller than ``k``, whose graph term was
    skipped. The banks are buffers, saved in ``state_dict()``.

    Parameters
    ----------
    alpha : float
        KD weight (0: HKD alone; 1: HKD + KD).
    beta : float
        Weight of each contrastive term (3).
    kd_temperature : float
        :math:`\tau` of the KD term (4).
    k : int
        kNN neighbours, self included (8).
    temperature : float
        :math:`T` (0.07).
    bank_weight : float
        :math:`\lambda` (0.75; the reference objective only).
    objective : str
        ``"reference"`` (default) or ``"paper"`` (Eq. 10), see above.
    momentum : float
        Bank momentum :math:`\mu` (0.9).
    **options
        The bank methods' keyword-only options
        (:class:`~graphkd.distill.bank_distiller.BankDistiller`): ``teacher_dim``,
        ``student_dim`` and ``labels`` (required), ``num_samples``, ``embed_dim`` (128),
        ``nce_k`` (:math:`K` = 16384 distinct negatives per sample), ``replacement``,
        ``bank_dtype`` (float32) and ``check_inputs``.

    Example
    -------
    The paper's objective has the graph term alone (a training step:
    :class:`~graphkd.distill.bank_distiller.BankDistiller`):

    >>> import torch
    >>> labels = torch.arange(200) % 10
    >>> paper = HKDDistiller(objective="paper", teacher_dim=32, student_dim=16, labels=labels)
    >>> [term.name for term in paper.terms]
    ['graph']
    """

    graph_name = "knn"

    method_name = "HKD"

    def __init__(
        self,
        alpha: float = 0.0,
        beta: float = 3.0,
        kd_temperature: float = 4.0,
        k: int = 8,
        temperature: float = 0.07,
        momentum: float = 0.9,
        bank_weight: float = 0.75,
        objective: str = "reference",
        **options: Any,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(
                f"unknown objective {objective!r}; use 'reference' (the reference "
                "implementation's loss) or 'paper' (the paper's Eq. 10)"
            )
        if not 0.0 <= bank_weight <= 1.0:
            raise ValueError(f"bank_weight must lie in [0, 1], got {bank_weight!r}")
        fields = {"individual": "embed", "graph": "gnn"}
        if objective == "paper":
            del fields["individual"]
        contrast = [
            MatchTerm(name, field, "nodes", InfoNCE(temperature, check_finite=False), beta)
            for name, field in fields.items()
        ]
        super().__init__(
            partial(HKDGraph, k=k), contrast + kd_terms(alpha, kd_temperature), momentum, **options
        )
        self.k = k
        self.bank_weight = bank_weight
        self.objective = objective
        self._warned_small_batch = False

    def contrast(
        self, teacher: KnowledgeGraph, student: KnowledgeGraph, index: Tensor, negatives: Tensor
    ) -> Dict[str, Tensor]:
        """``{"individual", "graph"}`` (``{"graph"}`` with ``objective="paper"``); the
        banks receive :math:`e` (:math:`g` with ``objective="paper"``), nothing after a
        batch without graph term."""
        with_graph = "gnn" in student.ndata and "gnn" in teacher.ndata
        if not with_graph:
            self._warn_small_batch()
        if self.objective == "paper":
            values = self._paper(teacher, student, negatives, with_graph)
        else:
            values = self._reference(teacher, student, index, negatives, with_graph)
        stored = "gnn" if self.objective == "paper" and with_graph else "embed"
        self.remember(index, teacher.ndata[stored], student.ndata[stored], update=with_graph)
        return values

    def _warn_small_batch(self) -> None:
        if not self._warned_small_batch:
            warnings.warn(
                f"HKD skips its graph term on batches of fewer than {max(self.k, 2)} "
                f"samples (k = {self.k} neighbours, self included) and leaves its memory "
                "banks untouched after them; the individual term still trains. Raise the "
                "batch size or drop the last incomplete batch.",
                stacklevel=5,
            )
            self._warned_small_batch = True

    def _reference(
        self,
        teacher: KnowledgeGraph,
        student: KnowledgeGraph,
        index: Tensor,
        negatives: Tensor,
        with_graph: bool,
    ) -> Dict[str, Tensor]:
        """The reference objective: negatives from each anchor's own bank."""
        embed_s, embed_t = student.ndata["embed"], teacher.ndata["embed"]
        memory_t, memory_s = self.bank_t(index), self.bank_s(index)  # positives of s and t
        anchors_s = [embed_s]
        anchors_t = [embed_t]
        if with_graph:
            gnn_s, gnn_t = student.ndata["gnn"], teacher.ndata["gnn"]
            anchors_s.append(gnn_s)
            anchors_t.append(gnn_t)
        scores_s = self.bank_s.scores(torch.stack(anchors_s, 1), negatives)
        scores_t = self.bank_t.scores(torch.stack(anchors_t, 1), negatives)
        temperature = self.metrics["individual"].temperature
        individual = info_nce_from_scores(
            (embed_s * memory_t).sum(1), scores_s[:, 0], temperature
        ) + info_nce_from_scores((embed_t * memory_s).sum(1), scores_t[:, 0], temperature)
        if not with_graph:
            return {"individual": individual, "graph": individual.new_zeros(())}
        with torch.no_grad():
            weight = self.bank_weight
            target_s = F.normalize(weight * memory_t + (1 - weight) * gnn_t, dim=1)
            target_t = F.normalize(weight * memory_s + (1 - weight) * gnn_s, dim=1)
        graph = info_nce_from_scores(
            (gnn_s * target_s).sum(1), scores_s[:, 1], self.metrics["graph"].temperature
        ) + info_nce_from_scores(
            (gnn_t * target_t).sum(1), scores_t[:, 1], self.metrics["graph"].temperature
        )
        return {"individual": individual, "graph": graph}

    def _paper(
        self, teacher: KnowledgeGraph, student: KnowledgeGraph, negatives: Tensor, with_graph: bool
    ) -> Dict[str, Tensor]:
        """The paper's Eq. 10: graph embeddings, the other network's as positive and bank."""
        if not with_graph:  # zero, but connected to the heads so that backward() works
            return {"graph": 0.0 * student.ndata["embed"].sum()}
        gnn_s, gnn_t = student.ndata["gnn"], teacher.ndata["gnn"]
        positive = (gnn_s * gnn_t).sum(1)
        temperature = self.metrics["graph"].temperature
        scores_s = self.bank_t.scores(gnn_s[:, None, :], negatives)[:, 0]
        scores_t = self.bank_s.scores(gnn_t[:, None, :], negatives)[:, 0]
        graph = info_nce_from_scores(positive, scores_s, temperature) + info_nce_from_scores(
            positive, scores_t, temperature
        )
        return {"graph": graph}


@METHODS.register("hkd")
@measured_short(
    30,
    "hkd (the contrastive terms without KD) ended 3.11 points below cross-entropy on the "
    "15-epoch Fashion-MNIST protocol, level with it at 30 epochs and 1.24 points above it at "
    "60 (docs: 'Where the seed methods pay off'); its memory banks need long schedules. On "
    "a schedule this short, use hkd_kd (HKD beside KD, the reference's run script)",
)
@preset(HKDDistiller)
def hkd() -> HKDDistiller:
    r"""HKD alone (Zhou et al., ICCV 2021): CE + :math:`\beta\, \mathcal{L}_{hkd}`.

    .. math::
        \mathcal{L} = \mathcal{L}_{ce} + \beta\,(\mathcal{L}_{ind} + \mathcal{L}_{graph})

    See :class:`HKDDistiller` for the terms.

    Parameters
    ----------
    teacher_dim, student_dim, num_samples, labels
        Passed by the trainer (see :func:`~graphkd.distill.bank_distiller.required_inputs`).
    beta : float
        3, the paper's.
    k, nce_k, temperature
        kNN neighbours (8), negatives per sample (16384), InfoNCE temperature (0.07).
    objective : str
        ``"reference"`` (the reference implementation's loss) or ``"paper"`` (Eq. 10),
        see :class:`HKDDistiller`.
    replacement, bank_dtype
        As for :class:`HKDDistiller` (``False``, as the reference, and ``"float32"``).
    momentum : float
        Bank momentum :math:`\mu` (0.9, the reference's): each epoch leaves
        :math:`\mu^{e}` of a row's initial random content, so the contrastive targets
        need tens of epochs to become the networks' embeddings.
    alpha, kd_temperature, embed_dim, bank_weight, check_inputs
        As for :class:`HKDDistiller` (``alpha`` 0: no KD term; :func:`hkd_kd` has 1).
    """


@METHODS.register("hkd_kd")
@preset(HKDDistiller, alpha=1.0)
def hkd_kd() -> HKDDistiller:
    r"""HKD + KD (Zhou et al., ICCV 2021): CE + :math:`\alpha` KD + :math:`\beta\, \mathcal{L}_{hkd}`.

    .. math::
        \mathcal{L} = \mathcal{L}_{ce} + \alpha\,\tau^2\,\mathrm{KL}\big(
            \mathrm{softmax}(z^t/\tau) \,\|\, \mathrm{softmax}(z^s/\tau)\big)
            + \beta\,(\mathcal{L}_{ind} + \mathcal{L}_{graph})

    Parameters
    ----------
    alpha, kd_temperature : float
        KD weight (1) and temperature :math:`\tau` (4).
    teacher_dim, student_dim, num_samples, labels, beta, k, nce_k, temperature, objective, replacement, bank_dtype, momentum
        As for :func:`hkd`.
    """
