"""Dataset wrapper adding each sample's dataset index, as memory banks need it.

Memory-bank methods (e.g. HKD, CRD-style contrastive terms) store one embedding per
training sample and read and write rows by dataset index :math:`i`:

.. math::

    (x_i, y_i) \\mapsto (x_i, y_i, i)

Example
-------
>>> import torch
>>> from torch.utils.data import TensorDataset
>>> data = WithIndex(TensorDataset(torch.zeros(3, 2), torch.tensor([5, 6, 7])))
>>> image, label, index = data[1]
>>> int(label), index
(6, 1)
"""

from __future__ import annotations

from typing import Any, Tuple

from torch.utils.data import Dataset


class WithIndex(Dataset):
    """Yield ``(image, label, index)`` from a dataset of ``(image, label)``.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Yields ``(image, label)`` pairs; ``image`` may itself be a ``(real, virtual)``
        pair (see :class:`graphkd.data.TwoViewDataset`).

    Example
    -------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> data = WithIndex(TensorDataset(torch.zeros(4, 2), torch.arange(4)))
    >>> _, labels, index = next(iter(DataLoader(data, batch_size=4)))
    >>> index
    tensor([0, 1, 2, 3])
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Tuple[Any, Any, int]:
        image, label = self.dataset[index]
        return image, label, index

    @property
    def targets(self) -> Any:
        """The wrapped dataset's labels in dataset order."""
        try:
            return self.dataset.targets  # type: ignore[attr-defined]
        except AttributeError:
            raise AttributeError(
                f"the wrapped {type(self.dataset).__name__} has no 'targets'; pass the labels "
                f"explicitly, e.g. torch.tensor([label for _, label in dataset])"
            ) from None
