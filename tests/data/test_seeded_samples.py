"""Per-sample augmentation seeds: draws that depend on (seed, epoch, index) only, taken from
the CPU generator alone."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from graphkd.data import SeededSamples
from graphkd.data.seeded_samples import sample_seed


class _Noisy(Dataset):
    def __len__(self) -> int:
        return 5

    def __getitem__(self, index: int):
        return torch.rand(3), torch.randint(0, 10, (2,)), index


def test_a_sample_draws_what_its_seed_draws_whatever_was_drawn_before():
    data = SeededSamples(_Noisy(), seed=7)
    data.set_epoch(2)
    first = data[3]
    torch.rand(11)  # the run draws in between
    again = data[3]
    generator = torch.Generator().manual_seed(sample_seed(7, 2, 3))
    expected = torch.rand(3, generator=generator), torch.randint(0, 10, (2,), generator=generator)
    for mine, same, reference in zip(first[:2], again[:2], expected):
        assert torch.equal(mine, same) and torch.equal(mine, reference)
    data.set_epoch(3)
    assert not torch.equal(data[3][0], first[0])


def test_the_global_stream_is_restored_and_no_other_generator_is_seeded(monkeypatch):
    """A sample's seed goes to the CPU generator only: ``torch.manual_seed`` would also
    queue a seed (with its stack trace) for every accelerator, per sample."""

    def refuse(seed):
        raise AssertionError("torch.manual_seed called per sample")

    monkeypatch.setattr(torch, "manual_seed", refuse)
    data = SeededSamples(_Noisy(), seed=0)
    torch.default_generator.manual_seed(123)
    expected = torch.rand(4)
    torch.default_generator.manual_seed(123)
    data[0], data[4]
    assert torch.equal(torch.rand(4), expected)
