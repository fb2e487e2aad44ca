"""NegativeSampler against a brute-force reference: never the anchor's class, full support."""

from __future__ import annotations

import pytest
import torch

from graphkd.data import NegativeSampler


def brute_force_negatives(labels: torch.Tensor, anchor_label: int) -> set:
    return {j for j in range(len(labels)) if int(labels[j]) != anchor_label}


@pytest.mark.parametrize(
    "labels",
    [
        torch.randint(0, 5, (60,), generator=torch.Generator().manual_seed(0)),
        torch.tensor([7, -3, 100, 7, 7, -3, 42, 100, 7]),
        torch.tensor([0, 1]),
        torch.tensor([2] * 9 + [5]),
    ],
)
def test_never_same_class_and_full_support(labels) -> None:
    sampler = NegativeSampler(labels, num_negatives=400, generator=torch.Generator().manual_seed(1))
    index = torch.arange(len(labels))
    negatives = sampler(index)
    assert negatives.shape == (len(labels), 400) and negatives.dtype == torch.int64
    for b in range(len(labels)):
        allowed = brute_force_negatives(labels, int(labels[b]))
        drawn = set(negatives[b].tolist())
        assert drawn <= allowed
        if len(allowed) <= 50:
            assert drawn == allowed  # 400 draws cover at most 50 candidates w.h.p.


def test_uniform_over_other_classes() -> None:
    labels = torch.tensor([0] * 3 + [1] * 5 + [2] * 2)
    sampler = NegativeSampler(labels, 20000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(sampler(torch.tensor([4]))[0], minlength=10).double()
    expected = torch.tensor([1.0] * 3 + [0.0] * 5 + [1.0] * 2, dtype=torch.float64) * 4000
    assert torch.all(counts[3:8] == 0)
    assert torch.allclose(counts, expected, rtol=0.06)


def test_explicit_labels() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    sampler = NegativeSampler(labels, 300, generator=torch.Generator().manual_seed(0))
    negatives = sampler(torch.tensor([0, 1]), labels=torch.tensor([1, 9]))
    assert set(negatives[0].tolist()) == {0, 1, 4, 5}
    assert set(negatives[1].tolist()) == set(range(6))  # label absent: everything is negative


def test_generator_and_global_seed_determinism() -> None:
    labels = torch.randint(0, 4, (30,), generator=torch.Generator().manual_seed(3))
    index = torch.tensor([3, 1, 4, 1, 5])

    def draw(seed: int) -> torch.Tensor:
        return NegativeSampler(labels, 8, generator=torch.Generator().manual_seed(seed))(index)

    assert torch.equal(draw(0), draw(0)) and not torch.equal(draw(0), draw(1))
    sampler = NegativeSampler(labels, 8)
    torch.manual_seed(5)
    first = sampler(index)
    torch.manual_seed(5)
    assert torch.equal(first, sampler(index))


def test_single_class_error() -> None:
    with pytest.raises(ValueError, match="class 3 covers the whole dataset"):
        NegativeSampler(torch.full((5,), 3), 2)


@pytest.mark.parametrize(
    ("labels", "k", "match"),
    [
        (torch.tensor([0.0, 1.0]), 2, "integer"),
        (torch.zeros(2, 2, dtype=torch.long), 2, "1-D"),
        (torch.tensor([], dtype=torch.long), 2, "non-empty"),
        (torch.tensor([0, 1]), 0, "at least 1"),
        (torch.tensor([0, 1]), 2.0, "must be an int"),
    ],
)
def test_bad_construction(labels, k, match) -> None:
    with pytest.raises(ValueError, match=match):
        NegativeSampler(labels, k)


def test_bad_call() -> None:
    sampler = NegativeSampler(torch.tensor([0, 1, 1]), 2)
    with pytest.raises(ValueError, match="1-D"):
        sampler(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="one label per anchor"):
        sampler(torch.tensor([0, 1]), labels=torch.tensor([0]))


def test_to_device() -> None:
    sampler = NegativeSampler(torch.tensor([0, 1, 1]), 2).to("cpu")
    assert sampler.device == torch.device("cpu")
    assert sampler(torch.tensor([0])).device == torch.device("cpu")
