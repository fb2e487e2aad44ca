"""Graph-matching methods that keep a teacher and a student memory bank by dataset index."""

from __future__ import annotations

import abc
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from torch import Tensor

from graphkd.data.negative_sampler import NegativeSampler
from graphkd.distill.distiller import GraphBuilder, GraphMatchingDistiller
from graphkd.distill.match_term import MatchTerm
from graphkd.distill.memory_bank import MemoryBank
from graphkd.knowledge_graph import KnowledgeGraph
from graphkd.responses import Responses


class BankDistiller(GraphMatchingDistiller, abc.ABC):
    r"""A :class:`~graphkd.GraphMatchingDistiller` with two :class:`MemoryBank` s over the
    training set, read and written by the samples' dataset indices (HKD, CRD).

    The constructor checks the values the trainer passes (:func:`required_inputs`),
    builds the teacher's graph (detached) and the student's with the subclass's ``head``,
    and creates ``bank_t`` (the teacher's rows) and ``bank_s`` (the student's), ``(N, D)``
    :class:`MemoryBank` s, and the ``sampler`` of negatives; a
    subclass computes its contrastive terms in :meth:`contrast`, which hands the rows the
    banks receive to :meth:`remember`. :meth:`forward` reads the batch's dataset indices
    (:meth:`dataset_index`), builds the two graphs, draws the negatives
    (:meth:`negatives_for`), calls :meth:`contrast` and adds the other terms (a KD
    term); :meth:`after_step` writes the remembered rows after the optimiser step, each
    bank as :meth:`MemoryBank.update_across_ranks` does,

    .. math::
        M[i] \leftarrow \mathrm{normalize}(m\, M[i] + (1 - m)\, e_i).

    Under data parallelism the forward pass may have seen the global batch
    (``method.graph_batch: global``: the ``W`` ranks' samples gathered in rank order);
    each rank then writes its own slice, so the banks receive every rank's rows once, as
    with local graphs.

    Parameters
    ----------
    head : callable
        ``head(dim, embed_dim, detach=...)``: the graph builder of a network whose pooled
        penultimate features are ``dim`` wide, called for the teacher (``detach=True``)
        and for the student.
    terms : sequence of MatchTerm, or callable
        The method's terms, the contrastive ones first (the cross-entropy weight is 1);
        or a function of :math:`N` returning them.
    momentum : float
        Bank momentum :math:`m`, see :class:`MemoryBank` (each method has its own
        default).

    Other Parameters
    ----------------
    teacher_dim, student_dim : int
        Widths of the teacher's and the student's pooled penultimate features
        (``Responses.embedding``; required, the trainer passes them).
    labels : Tensor
        ``(N,)`` label of every training sample in dataset order (required, the trainer
        passes them; see :func:`training_labels`); negatives come from other classes
        (:class:`~graphkd.data.NegativeSampler`).
    num_samples : int, optional
        :math:`N`, checked against ``labels`` (default ``len(labels)``).
    embed_dim : int
        :math:`D`, the width of the embeddings and of the banks' rows (128).
    nce_k : int
        :math:`K`, negatives per sample (16384).
    replacement : bool
        Draw each sample's negatives with replacement (default ``False``: :math:`K`
        distinct samples, as the reference implementations draw them).
    bank_dtype : str
        ``"float32"`` (default) or ``"float16"`` storage of the banks.
    check_inputs : bool
        Validate shapes, reject NaN/Inf and check that the dataset indices lie in the
        banks (one host synchronisation per step for the responses, one for the
        indices; default ``True``).

    These keyword-only options are every bank method's: a subclass passes them on with
    ``**options``, and its preset lists them after the method's own.

    Example
    -------
    The step of both bank methods: a forward pass on a batch that carries its dataset
    indices, then :meth:`after_step` after the optimiser step.

    >>> import torch
    >>> from graphkd import Responses
    >>> from graphkd.distill.presets.crd import CRDDistiller
    >>> from graphkd.distill.presets.hkd import HKDDistiller
    >>> labels = torch.arange(200) % 10
    >>> index = torch.arange(12)
    >>> t = Responses(torch.randn(12, 10), embedding=torch.randn(12, 32), index=index)
    >>> s = Responses(torch.randn(12, 10), embedding=torch.randn(12, 16), index=index)
    >>> inputs = {"teacher_dim": 32, "student_dim": 16, "labels": labels, "nce_k": 64}
    >>> methods = [CRDDistiller(**inputs), HKDDistiller(**inputs)]
    >>> for method in methods:
    ...     print(sorted(method(t, s)))
    ...     method.after_step(t, s)
    ['loss', 'student_anchor', 'teacher_anchor']
    ['graph', 'individual', 'loss']
    """

    needs_index = True
    #: The method's name in error messages.
    method_name = "this method"
    bank_s: MemoryBank
    bank_t: MemoryBank
    sampler: NegativeSampler
    #: What the last forward pass left for :meth:`after_step` to write.
    _pending: Optional[Tuple[Tensor, Tensor, Tensor]] = None
    _update_banks: bool = True

    def __init__(
        self,
        head: Callable[..., GraphBuilder],
        terms: Union[Sequence[MatchTerm], Callable[[int], Sequence[MatchTerm]]],
        momentum: float,
        *,
        teacher_dim: Optional[int] = None,
        student_dim: Optional[int] = None,
        labels: Union[Tensor, Sequence[int], None] = None,
        num_samples: Optional[int] = None,
        embed_dim: int = 128,
        nce_k: int = 16384,
        replacement: bool = False,
        bank_dtype: str = "float32",
        check_inputs: bool = True,
    ) -> None:
        teacher_dim, student_dim, labels = required_inputs(
            self.method_name, teacher_dim, student_dim, labels, num_samples
        )
        num_samples = int(labels.numel())
        super().__init__(
            head(teacher_dim, embed_dim, detach=True),
            head(student_dim, embed_dim),
            terms(num_samples) if callable(terms) else terms,
            ce_weight=1.0,
            check_inputs=check_inputs,
        )
        self.bank_t = MemoryBank(num_samples, embed_dim, momentum, bank_dtype)
        self.bank_s = MemoryBank(num_samples, embed_dim, momentum, bank_dtype)
        self.sampler = NegativeSampler(labels, nce_k, replacement=replacement)

    def forward(
        self, teacher: Responses, student: Responses, negatives: Optional[Tensor] = None
    ) -> Dict[str, Tensor]:
        """``{"loss", <contrastive terms>[, "kd"]}`` for one batch (see :meth:`contrast`).

        ``negatives`` (``(B, K)`` dataset indices) replaces the sampled negatives.
        """
        index = self.dataset_index(teacher, student)
        teacher_graph, student_graph = self._graph_pair(teacher, student)
        negatives = self.negatives_for(index, negatives)
        values = self.contrast(teacher_graph, student_graph, index, negatives)
        return self._weighted_sum(values, teacher_graph, student_graph)

    @abc.abstractmethod
    def contrast(
        self, teacher: KnowledgeGraph, student: KnowledgeGraph, index: Tensor, negatives: Tensor
    ) -> Dict[str, Tensor]:
        """The method's contrastive terms of one batch, ``{name: scalar}``, from the two
        graphs, the ``(B,)`` dataset indices and the ``(B, K)`` indices of the negatives;
        hands the rows the banks receive to :meth:`remember`."""

    def negatives_for(self, index: Tensor, negatives: Optional[Tensor] = None) -> Tensor:
        """The ``(B, K)`` dataset indices of the negatives of the ``(B,)`` samples
        ``index``: drawn by ``sampler``, or ``negatives`` when given (checked)."""
        if negatives is None:
            if self.sampler.device != index.device:
                self.sampler.to(index.device)
            return self.sampler(index)
        if negatives.dim() != 2 or negatives.shape[0] != index.shape[0]:
            raise ValueError(
                f"negatives must be (B, K) = ({index.shape[0]}, K) dataset indices, got shape "
                f"{tuple(negatives.shape)}"
            )
        return negatives

    def remember(
        self, index: Tensor, teacher_rows: Tensor, student_rows: Tensor, update: bool = True
    ) -> None:
        """Keep the ``(B,)`` indices and the ``(B, D)`` rows :meth:`after_step` writes
        (detached); ``update=False``: write nothing after this step."""
        self._pending = (
            index,
            teacher_rows.detach(),
            student_rows.detach(),
        )
        self._update_banks = update

    @torch.no_grad()
    def after_step(self, teacher: Responses, student: Responses) -> None:
        """Write the rows of the last forward pass into the banks (see the class).

        Raises
        ------
        ValueError
            No forward pass since the last update, or responses of another batch.
        """
        pending = self._pending
        if pending is None:
            raise ValueError(
                "after_step writes the embeddings of the last forward pass into the memory "
                "banks, but there was none since the last update; call the distiller on the "
                "batch before the optimiser step"
            )
        index, teacher_rows, student_rows = pending
        given = student.index if student.index is not None else teacher.index
        if given is not None and given.dim() == 1 and given.shape[0] != index.shape[0]:
            own = own_slice(index.shape[0], given.shape[0])
            index, teacher_rows, student_rows = index[own], teacher_rows[own], student_rows[own]
        if given is not None and given is not index and not torch.equal(given, index):
            raise ValueError(
                "after_step received other dataset indices than the last forward pass; call "
                "it with the responses of the batch just trained on"
            )
        self._pending = None
        if self._update_banks:
            self.bank_t.update_across_ranks(index, teacher_rows)
            self.bank_s.update_across_ranks(index, student_rows)

    def dataset_index(self, teacher: Responses, student: Responses) -> Tensor:
        """The batch's ``(B,)`` dataset indices (the student's, else the teacher's),
        checked to lie in the banks while ``check_inputs`` is on."""
        index = student.index if student.index is not None else teacher.index
        if index is None:
            raise ValueError(
                f"{self.method_name} reads and writes memory banks by dataset index, but the "
                "responses carry no index; wrap the training set with graphkd.data.WithIndex "
                "and pass each batch's index as Responses(index=...)"
            )
        if index.dim() != 1 or index.shape[0] != student.batch_size:
            raise ValueError(
                f"index must be (B,) = ({student.batch_size},) dataset indices, got shape "
                f"{tuple(index.shape)}"
            )
        if self.check_inputs:
            self.bank_s.check_index(index)
        return index


def training_labels(
    labels: Union[Tensor, Sequence[int]], num_samples: Optional[int] = None
) -> Tensor:
    """The ``(N,)`` label of every training sample as a tensor, checked to hold
    ``num_samples`` labels (default ``len(labels)``): a bank method's ``labels`` and
    ``num_samples``, :math:`N` being the size of its banks."""
    labels = torch.as_tensor(labels)
    if num_samples is None:
        num_samples = int(labels.numel())
    if labels.dim() != 1 or labels.numel() != num_samples:
        raise ValueError(
            f"labels must hold one label per training sample ({num_samples}), got shape "
            f"{tuple(labels.shape)}; pass torch.as_tensor(train_set.targets)"
        )
    return labels


def kd_terms(weight: float, temperature: float) -> List[MatchTerm]:
    """An optional KD term on the nodes' ``"logits"``: ``[]`` when ``weight`` is 0."""
    if not weight:
        return []
    return [MatchTerm("kd", "logits", "nodes", "kd", weight, options={"tau": temperature})]


def required_inputs(
    method: str,
    teacher_dim: Optional[int],
    student_dim: Optional[int],
    labels: Union[Tensor, Sequence[int], None],
    num_samples: Optional[int] = None,
) -> Tuple[int, int, Tensor]:
    """The values a bank method cannot do without, or a ``ValueError`` saying what to
    pass (``method`` as in messages, its registry name in lower case): the two widths and
    the labels checked by :func:`training_labels`.

    The trainer passes them to a bank method, with ``num_samples``: the widths of the
    teacher's and the student's pooled penultimate features (``Responses.embedding``),
    the ``(N,)`` training labels in dataset order, and the training-set size (default
    ``len(labels)``).
    """
    for option, value in (("teacher_dim", teacher_dim), ("student_dim", student_dim)):
        if value is None:
            raise ValueError(
                f"{method} needs {option}: pass {option} = the width of that network's pooled "
                "penultimate features (Responses.embedding)"
            )
    if labels is None:
        raise ValueError(
            f"{method} draws negatives of other classes and needs labels, the (N,) label of "
            f"every training sample: create_method('{method.lower()}', "
            "labels=torch.as_tensor(train_set.targets), ...); the trainer passes them"
        )
    assert teacher_dim is not None and student_dim is not None
    return teacher_dim, student_dim, training_labels(labels, num_samples)


def own_slice(gathered: int, local: int) -> slice:
    """This rank's rows of a batch gathered from all ranks in rank order (equal sizes).

    ``slice(None)`` when no process group runs or the sizes do not fit a gathered batch,
    so that the caller's index check reports the mismatch.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return slice(None)
    if gathered != local * dist.get_world_size():
        return slice(None)
    start = dist.get_rank() * local
    return slice(start, start + local)
