r"""Draw negatives for contrastive memory banks: dataset indices of samples of other classes.

For an anchor with label :math:`y`, the :math:`K` negatives are a uniformly random subset
of the :math:`N - n_y` samples of the other classes, drawn without replacement (each
other-class sample at most once per anchor), independently for every anchor:

.. math::

    \{j_{b,1}, \dots, j_{b,K}\} \sim \mathcal{U}\binom{\{\, j : y_j \ne y_b \,\}}{K},
    \qquad b = 1..B

The dataset indices are kept sorted by label, so the samples of class :math:`c` occupy one
contiguous segment ``[start_c, start_c + count_c)`` of that order. Each anchor draws one
uniform key per sample, its own class's keys are pushed above every other, and the
:math:`K` smallest keys pick the subset (``torch.topk``): a handful of tensor operations
on the sampler's device, ``B N`` keys per call, without synchronising. An anchor whose
class leaves fewer than :math:`K` other samples draws with replacement instead, and
``replacement=True`` draws every anchor's negatives with replacement (:math:`B K` draws:
cheaper for very large datasets, with duplicates: about 15 % at
:math:`K = 16384, N = 50000`).

Example
-------
>>> import torch
>>> labels = torch.tensor([0, 1, 0, 2, 1, 2])
>>> sampler = NegativeSampler(labels, num_negatives=4, generator=torch.Generator().manual_seed(0))
>>> negatives = sampler(torch.tensor([0, 1]))
>>> negatives.shape
torch.Size([2, 4])
>>> bool((labels[negatives] != labels[torch.tensor([0, 1])][:, None]).all())
True
>>> [len(set(row)) for row in negatives.tolist()]  # no repeats
[4, 4]
"""

from __future__ import annotations

from typing import Optional, Union

import torch


class NegativeSampler:
    """Sample ``(B, K)`` dataset indices of other-class samples for a batch of anchors.

    Calling the sampler with ``index`` (``(B,)`` dataset indices of the anchors) and,
    optionally, ``labels`` (``(B,)``, the anchors' labels; default: the stored labels
    at ``index``; a label absent from the dataset makes every sample a negative)
    returns ``(B, K)`` int64 dataset indices on the sampler's device.

    Parameters
    ----------
    labels : torch.Tensor
        Shape ``(N,)``, integer label of every dataset sample, in dataset order
        (e.g. ``torch.as_tensor(dataset.targets)``). At least two classes.
    num_negatives : int
        :math:`K`, negatives per anchor (e.g. 16384 for HKD).
    generator : torch.Generator, optional
        Source of randomness, on the same device as ``labels``; defaults to the global
        torch generator.
    replacement : bool, default False
        Draw with replacement (negatives may repeat within a row). Without it (the
        default), rows repeat no index unless the anchor's class leaves fewer than
        ``num_negatives`` other samples.

    Example
    -------
    >>> import torch
    >>> sampler = NegativeSampler(torch.tensor([0, 0, 1, 1, 1]), num_negatives=2)
    >>> _ = torch.manual_seed(0)
    >>> sorted(sampler(torch.tensor([0]))[0].tolist())  # two of the three class-1 samples
    [2, 3]
    """

    def __init__(
        self,
        labels: torch.Tensor,
        num_negatives: int,
        generator: Optional[torch.Generator] = None,
        replacement: bool = False,
    ) -> None:
        labels = torch.as_tensor(labels)
        if labels.dim() != 1 or labels.numel() == 0 or labels.is_floating_point():
            raise ValueError(
                f"labels must be a non-empty 1-D integer tensor (one label per sample), got "
                f"shape {tuple(labels.shape)} and dtype {labels.dtype}; pass "
                f"torch.as_tensor(dataset.targets)"
            )
        if isinstance(num_negatives, bool) or not isinstance(num_negatives, int):
            raise ValueError(f"num_negatives must be an int, got {num_negatives!r}")
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be at least 1, got {num_negatives}")
        self.num_negatives = num_negatives
        self.generator = generator
        self.replacement = replacement
        self.labels = labels.long()
        self.classes, counts = torch.unique(self.labels, return_counts=True)
        if self.classes.numel() < 2:
            raise ValueError(
                f"class {int(self.classes[0])} covers the whole dataset ({labels.numel()} "
                f"samples), so no sample has a negative; pass the labels of a dataset with at "
                f"least two classes"
            )
        self.order = torch.argsort(self.labels, stable=True)
        self.counts = counts
        self.starts = torch.cumsum(counts, 0) - counts
        # whether some anchor (of the largest class) has fewer candidates than negatives
        self._some_short = num_negatives > labels.numel() - int(counts.max())

    @property
    def device(self) -> torch.device:
        """Device of the stored labels and of the sampled indices."""
        return self.labels.device

    def to(self, device: Union[str, torch.device]) -> NegativeSampler:
        """Move the stored tensors to ``device`` (in place) and return ``self``."""
        for name in ("labels", "classes", "order", "counts", "starts"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def __call__(self, index: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        index = torch.as_tensor(index, device=self.device)
        if index.dim() != 1:
            raise ValueError(
                f"index must be 1-D (B,) dataset indices, got shape {tuple(index.shape)}; "
                f"pass the batch's index tensor from WithIndex"
            )
        if labels is None:
            anchor = self.labels[index]
        else:
            anchor = torch.as_tensor(labels, device=self.device).long()
            if anchor.shape != index.shape:
                raise ValueError(
                    f"labels has shape {tuple(anchor.shape)} but index has shape "
                    f"{tuple(index.shape)}; pass one label per anchor"
                )
        total = self.labels.numel()
        slot = torch.searchsorted(self.classes, anchor).clamp_max(self.classes.numel() - 1)
        present = self.classes[slot] == anchor
        count = torch.where(present, self.counts[slot], torch.zeros_like(slot))
        start = torch.where(present, self.starts[slot], torch.full_like(slot, total))
        if self.replacement or self.num_negatives > total:
            return self.order[self._with_replacement(total, count, start)]
        draw = self._without_replacement(total, count, start)
        if self._some_short:
            short = (total - count < self.num_negatives)[:, None]
            draw = torch.where(short, self._with_replacement(total, count, start), draw)
        return self.order[draw]

    def _without_replacement(self, total: int, count: torch.Tensor, start: torch.Tensor):
        """``(B, K)`` distinct positions in label order outside each anchor's class."""
        keys = torch.rand((count.numel(), total), generator=self.generator, device=self.device)
        offset = torch.arange(total, device=self.device)[None, :] - start[:, None]
        own = (offset >= 0) & (offset < count[:, None])
        keys = keys.masked_fill_(own, 2.0)  # above every uniform key
        return torch.topk(keys, self.num_negatives, dim=1, largest=False, sorted=False).indices

    def _with_replacement(self, total: int, count: torch.Tensor, start: torch.Tensor):
        """``(B, K)`` positions in label order outside each anchor's class, i.i.d."""
        available = (total - count).to(torch.float64)
        uniform = torch.rand(
            (count.numel(), self.num_negatives),
            generator=self.generator,
            dtype=torch.float64,
            device=self.device,
        )
        draw = (uniform * available[:, None]).long()
        draw = torch.minimum(draw, (total - count - 1)[:, None])
        return draw + (draw >= start[:, None]).long() * count[:, None]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_samples={self.labels.numel()}, "
            f"num_classes={self.classes.numel()}, num_negatives={self.num_negatives}, "
            f"replacement={self.replacement})"
        )
