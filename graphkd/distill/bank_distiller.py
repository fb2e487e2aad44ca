"""Graph-matching methods that keep a teacher and a student memory bank by dataset index."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

from graphkd.distill.distiller import GraphMatchingDistiller
from graphkd.distill.memory_bank import MemoryBank
from graphkd.responses import Responses


class BankDistiller(GraphMatchingDistiller):
    r"""A :class:`~graphkd.GraphMatchingDistiller` with two :class:`MemoryBank` s over the
    training set, read and written by the samples' dataset indices (HKD, CRD).

    A subclass creates ``bank_s`` (the student's rows) and ``bank_t`` (the teacher's),
    reads the batch's indices with :meth:`dataset_index` and, in ``forward``, hands the
    rows to write to :meth:`remember`; :meth:`after_step` writes them after the optimiser
    step, each bank as :meth:`MemoryBank.update_across_ranks` does,

    .. math::
        M[i] \leftarrow \mathrm{normalize}(m\, M[i] + (1 - m)\, e_i).

    Under data parallelism the forward pass may have seen the global batch
    (``method.graph_batch: global``: the ``W`` ranks' samples gathered in rank order);
    each rank then writes its own slice, so the banks receive every rank's rows once, as
    with local graphs.
    """

    needs_index = True
    #: The method's name in error messages.
    method_name = "this method"
    bank_s: MemoryBank
    bank_t: MemoryBank
    #: What the last forward pass left for :meth:`after_step` to write.
    _pending: Optional[Tuple[Tensor, Tensor, Tensor]] = None
    _update_banks: bool = True

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
