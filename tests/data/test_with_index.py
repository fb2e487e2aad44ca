"""WithIndex: (image, label) -> (image, label, index)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from graphkd.data import TwoViewDataset, WithIndex


def test_returns_index() -> None:
    images = torch.randn(5, 2)
    labels = torch.tensor([4, 3, 2, 1, 0])
    data = WithIndex(TensorDataset(images, labels))
    assert len(data) == 5
    for i in range(5):
        image, label, index = data[i]
        assert index == i and torch.equal(image, images[i]) and int(label) == int(labels[i])


def test_collated_indices_follow_the_sampler() -> None:
    data = WithIndex(TensorDataset(torch.arange(10).float()[:, None], torch.arange(10) % 3))
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(data, batch_size=4, shuffle=True, generator=generator)
    seen = []
    for images, labels, index in loader:
        assert index.dtype == torch.int64
        assert torch.equal(images[:, 0].long(), index) and torch.equal(labels, index % 3)
        seen += index.tolist()
    assert sorted(seen) == list(range(10))


def test_targets_passthrough() -> None:
    class Labelled(Dataset):
        targets = [1, 2]

        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int):
            return i, self.targets[i]

    assert WithIndex(Labelled()).targets == [1, 2]
    with pytest.raises(AttributeError, match="has no 'targets'"):
        _ = WithIndex(TensorDataset(torch.zeros(2), torch.zeros(2))).targets


def test_with_two_views() -> None:
    base = TensorDataset(torch.arange(6).float().view(6, 1, 1, 1), torch.arange(6) + 10)
    data = WithIndex(TwoViewDataset(base, lambda x: x + 0.5, lambda x: -x))
    (real, virtual), label, index = data[4]
    assert (float(real), float(virtual), int(label), index) == (4.5, -4.0, 14, 4)
    views, labels, indices = next(iter(DataLoader(data, batch_size=3)))
    assert views[0].shape == (3, 1, 1, 1) and torch.equal(views[1].flatten(), -indices.float())
    assert torch.equal(labels, indices + 10)
