"""mutual_information: the plug-in estimate against hand and loop references."""

import math
from collections import Counter

import pytest
import torch

from graphkd.analysis import mutual_information


def loop_reference(a, b):
    n = len(a)
    joint, left, right = Counter(zip(a, b)), Counter(a), Counter(b)
    return sum(
        c / n * math.log((c / n) / (left[x] / n * right[y] / n)) for (x, y), c in joint.items()
    )


def test_identical_predictions_give_their_entropy():
    y = torch.tensor([0, 0, 1, 2])
    entropy = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert mutual_information(y, y, num_classes=3) == pytest.approx(entropy, rel=1e-12)


def test_independent_predictions_give_zero():
    n = torch.arange(90)
    a, b = n % 3, (n // 3) % 3  # every (a, b) pair equally often: exactly independent
    assert mutual_information(a, b, num_classes=3) == pytest.approx(0.0, abs=1e-12)
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (20000,), generator=generator)
    y = torch.randint(0, 4, (20000,), generator=generator)
    assert 0.0 <= mutual_information(x, y, num_classes=4) < 2e-3


def test_matches_a_loop_reference_and_takes_logits():
    generator = torch.Generator().manual_seed(1)
    za, zb = torch.randn(50, 5, generator=generator), torch.randn(50, 5, generator=generator)
    zb[:25] = za[:25]
    a, b = za.argmax(1), zb.argmax(1)
    expected = loop_reference(a.tolist(), b.tolist())
    assert mutual_information(a, b, 5) == pytest.approx(expected, rel=1e-12)
    assert mutual_information(za, zb, 5) == pytest.approx(expected, rel=1e-12)


def test_batches_are_estimated_separately_then_averaged():
    a1, b1 = torch.tensor([0, 1, 0, 1]), torch.tensor([0, 1, 0, 1])
    a2, b2 = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])
    per_batch = (
        loop_reference(a1.tolist(), b1.tolist()) + loop_reference(a2.tolist(), b2.tolist())
    ) / 2
    pooled = loop_reference(torch.cat([a1, a2]).tolist(), torch.cat([b1, b2]).tolist())
    result = mutual_information([a1, a2], [b1, b2], num_classes=2)
    assert result == pytest.approx(per_batch, rel=1e-12)
    assert result != pytest.approx(pooled)


@pytest.mark.parametrize(
    "a, b, classes, message",
    [
        (torch.tensor([0, 1]), torch.tensor([0, 1, 1]), 2, "same images"),
        (torch.tensor([0, 3]), torch.tensor([0, 1]), 2, "outside"),
        (torch.zeros(2, 4), torch.zeros(2, 4), 3, "4 classes"),
        ([torch.tensor([0])], [torch.tensor([0]), torch.tensor([1])], 2, "batches"),
        (torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 2, "integers"),
        ([], [], 2, "no batch"),
        (
            torch.tensor([], dtype=torch.long),
            torch.tensor([], dtype=torch.long),
            2,
            "no prediction",
        ),
    ],
)
def test_bad_input_is_rejected(a, b, classes, message):
    with pytest.raises(ValueError, match=message):
        mutual_information(a, b, classes)
