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


def test_without_replacement_rows_repeat_no_index_and_skip_the_anchor_class() -> None:
    """The reference's size: 16,384 of the other classes' 49,500 CIFAR-100 samples."""
    labels = torch.arange(50_000) % 100
    sampler = NegativeSampler(labels, 16_384, generator=torch.Generator().manual_seed(0))
    index = torch.randperm(50_000, generator=torch.Generator().manual_seed(1))[:8]
    negatives = sampler(index)
    assert negatives.shape == (8, 16_384)
    assert (labels[negatives] != labels[index][:, None]).all()
    for row in negatives:
        assert row.unique().numel() == 16_384


def test_with_replacement_option_restores_independent_draws() -> None:
    labels = torch.arange(50_000) % 100
    sampler = NegativeSampler(
        labels, 16_384, generator=torch.Generator().manual_seed(0), replacement=True
    )
    row = sampler(torch.tensor([0]))[0]
    duplicates = 1 - row.unique().numel() / 16_384
    assert 0.12 < duplicates < 0.18  # about 15 % at this size
    assert (labels[row] != 0).all()


def test_without_replacement_every_subset_member_is_equally_likely() -> None:
    """Each other-class sample enters a row with probability K / (N - n_y)."""
    labels = torch.tensor([0] * 4 + [1] * 6 + [2] * 10)
    sampler = NegativeSampler(labels, 5, generator=torch.Generator().manual_seed(2))
    rows = sampler(torch.full((4000,), 4))  # anchors of class 1: 14 candidates
    assert all(row.unique().numel() == 5 for row in rows[:50])
    counts = torch.bincount(rows.flatten(), minlength=20).double()
    assert torch.all(counts[4:10] == 0)
    expected = 4000 * 5 / 14
    assert torch.allclose(
        counts[labels != 1], torch.full((14,), expected, dtype=torch.float64), rtol=0.08
    )


def test_anchors_with_too_few_candidates_fall_back_to_replacement() -> None:
    """As the reference: replacement only where K exceeds the anchor's candidates."""
    labels = torch.tensor([0] * 12 + [1] * 3)
    sampler = NegativeSampler(labels, 6, generator=torch.Generator().manual_seed(0))
    negatives = sampler(torch.tensor([0, 12]))  # class 0: 3 candidates; class 1: 12
    assert set(negatives[0].tolist()) <= {12, 13, 14}
    assert negatives[1].unique().numel() == 6 and (negatives[1] < 12).all()


def test_without_replacement_generator_determinism() -> None:
    labels = torch.arange(300) % 7
    index = torch.tensor([3, 1, 4, 1, 5])

    def draw(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return NegativeSampler(labels, 50, generator=generator)(index)

    assert torch.equal(draw(0), draw(0)) and not torch.equal(draw(0), draw(1))
