"""A momentum memory of one L2-normalised embedding per dataset sample."""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple, Union

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

BANK_DTYPES = {"float32": torch.float32, "float16": torch.float16}
HALF_DTYPES = (torch.float16, torch.bfloat16)


class MemoryBank(nn.Module):
    r"""Momentum memory bank of per-sample embeddings (HKD, Zhou et al. ICCV 2021).

    Holds an ``(N, D)`` buffer :math:`m`, one row per training sample, read and written
    by dataset index. Rows start uniform and are pulled towards each new embedding
    :math:`e_i` of sample :math:`i` after every step:

    .. math::
        m_i^{(0)} \sim \mathcal{U}\big(-a, a\big)^D,\quad a = \frac{1}{\sqrt{D/3}},
        \qquad
        m_i \leftarrow \frac{\mu\, m_i + (1 - \mu)\, e_i}{\|\mu\, m_i + (1 - \mu)\, e_i\|_2}

    The initial rows have unit expected norm. The buffer is part of ``state_dict()``, so
    checkpoints hold the bank. It may be stored in float16 to halve its memory; reads
    and updates then compute in float32.

    :meth:`scores` computes the dot products of anchors with the rows of sampled
    negatives. When the bank has at most ``DENSE_RATIO`` (32) times as many rows as
    negatives per anchor, it multiplies the anchors with the whole bank and picks the
    sampled entries (a ``(B, N)`` tensor); otherwise it gathers the rows,
    ``GATHER_CHUNK`` (1024) negatives per sample at a time, and keeps only the indices
    for the backward pass, which gathers the rows again: no ``(B, K, D)`` tensor exists
    at any time (it would be 2 GiB for B = 256, K = 16,384, D = 128), only
    ``(B, GATHER_CHUNK, D)`` pieces. Both paths give the same values and gradients. The
    product with the whole bank runs as one matrix product: on CIFAR-100 (N = 50,000)
    it is several times faster than gathering (``benchmarks/hkd.py``). Set
    ``DENSE_RATIO`` on an instance to choose otherwise (0: always gather).

    Memory at ImageNet scale (N = 1,281,167, D = 128): one bank holds 626 MiB in float32
    and 313 MiB in float16; HKD's two banks take 1.22 GiB or 626 MiB on every process.
    They stay whole on every rank: a step reads ``B K`` rows per process (4.2 million
    for B = 256, K = 16,384, three times the bank), so a bank split across ranks would
    move more bytes per step than it saves.

    Parameters
    ----------
    num_samples : int
        :math:`N`, the training-set size.
    dim : int
        :math:`D`, the embedding width (default 128).
    momentum : float
        :math:`\mu` in ``[0, 1)`` (default 0.9).
    dtype : str or torch.dtype
        Storage type, ``"float32"`` (default) or ``"float16"``.

    Example
    -------
    >>> import torch
    >>> bank = MemoryBank(num_samples=100, dim=8)
    >>> bank.update(torch.tensor([3, 7]), torch.nn.functional.normalize(torch.randn(2, 8)))
    >>> bool(torch.allclose(bank(torch.tensor([3, 7])).norm(dim=1), torch.ones(2)))
    True
    >>> bank.scores(torch.randn(2, 8), torch.randint(0, 100, (2, 5))).shape
    torch.Size([2, 5])
    """

    DENSE_RATIO = 32
    GATHER_CHUNK = 1024

    def __init__(
        self,
        num_samples: int,
        dim: int = 128,
        momentum: float = 0.9,
        dtype: Union[str, torch.dtype] = "float32",
    ) -> None:
        super().__init__()
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(
                f"num_samples must be a positive int (the training-set size), got {num_samples!r}"
            )
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"momentum must lie in [0, 1), got {momentum!r}; 0.9 keeps 90% of the old row"
            )
        if isinstance(dtype, str):
            if dtype not in BANK_DTYPES:
                raise ValueError(
                    f"unknown bank dtype {dtype!r}; use one of {', '.join(map(repr, BANK_DTYPES))}"
                )
            dtype = BANK_DTYPES[dtype]
        if not dtype.is_floating_point:
            raise ValueError(f"a memory bank stores floating-point rows, got dtype {dtype}")
        self.momentum = momentum
        self.register_buffer("memory", torch.empty(num_samples, dim, dtype=dtype))
        self.reset_parameters()

    @property
    def num_samples(self) -> int:
        """:math:`N`, the number of rows."""
        return int(self.memory.shape[0])

    @property
    def dim(self) -> int:
        """:math:`D`, the width of a row."""
        return int(self.memory.shape[1])

    @property
    def compute_dtype(self) -> torch.dtype:
        """float32 for half-precision storage, else the storage type."""
        return torch.float32 if self.memory.dtype in HALF_DTYPES else self.memory.dtype

    def reset_parameters(self) -> None:
        """Re-draw every row uniformly in :math:`\\pm 1/\\sqrt{D/3}` (forgets all updates)."""
        bound = 1.0 / math.sqrt(self.dim / 3.0)
        with torch.no_grad():
            fresh = torch.rand(self.memory.shape, device=self.memory.device) * (2 * bound) - bound
            self.memory.copy_(fresh)

    def check_index(self, index: Tensor) -> None:
        """Raise a ``ValueError`` unless every entry of ``index`` is a row of the bank.

        Reads the smallest and largest index back to the host: one synchronisation.
        """
        if index.is_floating_point() or index.dtype == torch.bool:
            raise ValueError(
                f"dataset indices must be integers, got dtype {index.dtype}; pass the index "
                "tensor graphkd.data.WithIndex yields"
            )
        if index.numel() == 0:
            return
        low, high = torch.stack([index.min(), index.max()]).tolist()
        if low < 0 or high >= self.num_samples:
            bad = high if high >= self.num_samples else low
            raise ValueError(
                f"dataset index {bad} is outside the memory bank of {self.num_samples} samples "
                f"(valid: 0 to {self.num_samples - 1}); build the method with num_samples = "
                "the training-set size and index samples in that set's order"
            )

    def forward(self, index: Tensor) -> Tensor:
        """The rows at ``index`` (any shape ``S``), ``S + (D,)``, in :attr:`compute_dtype`."""
        return self.memory[index].to(self.compute_dtype)

    def scores(self, anchors: Tensor, index: Tensor) -> Tensor:
        r"""Dot products of each anchor with the bank rows its sample draws.

        .. math::
            s_{bmk} = \langle a_{bm},\ m_{j_{bk}} \rangle

        Parameters
        ----------
        anchors : Tensor
            ``(B, D)``, or ``(B, M, D)`` for ``M`` anchors per sample sharing its rows.
        index : Tensor
            ``(B, K)`` dataset indices.

        Returns
        -------
        Tensor
            ``(B, K)`` or ``(B, M, K)``, in the anchors' type promoted with
            :attr:`compute_dtype`; differentiable with respect to the anchors.
        """
        single = anchors.dim() == 2
        grouped = anchors.unsqueeze(1) if single else anchors
        if (
            grouped.dim() != 3
            or grouped.shape[2] != self.dim
            or index.dim() != 2
            or index.shape[0] != grouped.shape[0]
        ):
            raise ValueError(
                f"scores expects anchors (B, D) or (B, M, D) with D = {self.dim} and an index "
                f"(B, K), got {tuple(anchors.shape)} and {tuple(index.shape)}"
            )
        batch, groups, _ = grouped.shape
        count = index.shape[1]
        dtype = torch.promote_types(grouped.dtype, self.compute_dtype)
        grouped = grouped.to(dtype)
        if self.num_samples <= self.DENSE_RATIO * count:
            every = (grouped.reshape(batch * groups, self.dim) @ self.memory.to(dtype).t()).view(
                batch, groups, self.num_samples
            )
            out = every.gather(2, index.unsqueeze(1).expand(batch, groups, count))
        else:
            out = _GatheredScores.apply(grouped, self.memory, index, dtype, self.GATHER_CHUNK)
        return out.squeeze(1) if single else out

    @torch.no_grad()
    def update(self, index: Tensor, embedding: Tensor) -> None:
        """Pull the rows at ``index`` (``(B,)``) towards ``embedding`` (``(B, D)``), in place.

        Rows are written with ``index_copy_``: with a repeated index one of the updates
        wins.
        """
        if index.dim() != 1 or embedding.shape != (index.shape[0], self.dim):
            raise ValueError(
                f"update expects index (B,) and embedding (B, {self.dim}), got "
                f"{tuple(index.shape)} and {tuple(embedding.shape)}"
            )
        dtype = self.compute_dtype
        mixed = self.momentum * self.memory.index_select(0, index).to(dtype)
        mixed = mixed + (1.0 - self.momentum) * embedding.detach().to(dtype)
        self.memory.index_copy_(0, index, F.normalize(mixed, dim=1).to(self.memory.dtype))

    @torch.no_grad()
    def update_across_ranks(self, index: Tensor, embedding: Tensor) -> None:
        """:meth:`update` with the ``(index, embedding)`` pairs of every process.

        When :mod:`torch.distributed` is initialised, the pairs are all-gathered first
        (ranks may hold different batch sizes; reading the sizes synchronises once), so
        every rank applies the same updates in the same order and the banks stay equal.
        Without a process group this is :meth:`update`.
        """
        if dist.is_available() and dist.is_initialized():
            index, embedding = _gather_rows(index, embedding)
        self.update(index, embedding)

    def extra_repr(self) -> str:
        return (
            f"num_samples={self.num_samples}, dim={self.dim}, momentum={self.momentum}, "
            f"dtype={self.memory.dtype}"
        )


class _GatheredScores(torch.autograd.Function):
    """``s[b, m, k] = <anchors[b, m], memory[index[b, k]]>`` in chunks of negatives,
    saving only ``index`` for the backward pass (the bank is not differentiated)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, anchors: Tensor, memory: Tensor, index: Tensor, dtype: torch.dtype, chunk: int
    ) -> Tensor:
        ctx.save_for_backward(index)
        ctx.memory, ctx.dtype, ctx.chunk = memory, dtype, chunk
        parts = [
            torch.bmm(anchors, memory[index[:, start : start + chunk]].to(dtype).transpose(1, 2))
            for start in range(0, index.shape[1], chunk)
        ]
        return torch.cat(parts, dim=2)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:  # type: ignore[override]
        (index,) = ctx.saved_tensors
        grad_anchors = None
        for start in range(0, index.shape[1], ctx.chunk):
            rows = ctx.memory[index[:, start : start + ctx.chunk]].to(ctx.dtype)
            part = torch.bmm(grad[:, :, start : start + ctx.chunk], rows)
            grad_anchors = part if grad_anchors is None else grad_anchors + part
        return grad_anchors, None, None, None, None


def _gather_rows(index: Tensor, embedding: Tensor) -> Tuple[Tensor, Tensor]:
    """Every rank's ``index`` and ``embedding`` rows, concatenated in rank order."""
    world = dist.get_world_size()
    count = torch.tensor([index.shape[0]], dtype=torch.long, device=index.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = torch.cat(counts).tolist()
    longest = max(sizes)
    missing = longest - index.shape[0]
    padded_index = F.pad(index, (0, missing))
    padded_rows = F.pad(embedding.detach(), (0, 0, 0, missing))
    indices = [torch.empty_like(padded_index) for _ in range(world)]
    rows = [torch.empty_like(padded_rows) for _ in range(world)]
    dist.all_gather(indices, padded_index)
    dist.all_gather(rows, padded_rows)
    return (
        torch.cat([part[:size] for part, size in zip(indices, sizes)]),
        torch.cat([part[:size] for part, size in zip(rows, sizes)]),
    )
