r"""Per-sample augmentation seeds: a sample's random views depend on (seed, epoch, index) only.

The training transforms draw from the global torch generator. Shared by a whole run,
that stream depends on everything drawn before: a method that draws random numbers when
it is built, or a second (virtual) view per image, would shift every later draw, and two
methods trained with the same seed would see differently augmented images.
:class:`SeededSamples` gives every sample its own seed,

.. math::

    s(i, e) = (r \cdot 1\,000\,003 + e) \cdot 10\,000\,019 + i \bmod 2^{63}

for run seed :math:`r`, epoch :math:`e` and dataset index :math:`i`, draws the sample's
transforms under it (the global CPU generator is saved before and restored after; no
accelerator's generator is touched), and so
makes the views of sample :math:`i` in epoch :math:`e` the same in every run of seed
:math:`r`, whatever else the run draws. A transform that draws a first view and then a
second (:class:`~graphkd.data.TwoViews`) gives the same first view as the transform of
the first view alone.

Example
-------
>>> import torch
>>> from torch.utils.data import Dataset
>>> class Noisy(Dataset):
...     def __len__(self): return 4
...     def __getitem__(self, i): return torch.rand(1), i
>>> data = SeededSamples(Noisy(), seed=0)
>>> first = data[2][0]; _ = torch.rand(5); torch.equal(first, data[2][0])
True
>>> data.set_epoch(1); torch.equal(first, data[2][0])
False
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of sample ``index`` in ``epoch`` of a run seeded with ``seed``."""
    return ((seed * 1_000_003 + epoch) * 10_000_019 + index) % 2**63


class SeededSamples(Dataset):
    """Draw each sample's random transforms from a seed of its own (see the module).

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Any dataset; its items pass through unchanged.
    seed : int
        The run's seed.

    Attributes
    ----------
    epoch : int
        The epoch whose seeds are used; set with :meth:`set_epoch` before each epoch.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the seeds of ``epoch`` from now on."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        with torch.random.fork_rng(devices=[]):
            # the CPU generator alone, which the transforms draw from: torch.manual_seed
            # would also queue a seed for every accelerator (on a CPU-only machine a
            # lazy call with its stack trace, per sample: most of an epoch's time)
            torch.default_generator.manual_seed(sample_seed(self.seed, self.epoch, index))
            return self.dataset[index]

    @property
    def targets(self) -> Any:
        """The wrapped dataset's labels."""
        return self.dataset.targets  # type: ignore[attr-defined]
