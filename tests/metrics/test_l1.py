"""L1 against an explicit reference."""

from __future__ import annotations

import pytest
import torch

from graphkd.metrics import L1

from .cases import node_pair


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean"])
@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 4), (6,)])
def test_matches_reference(reduction: str, shape) -> None:
    student, teacher = node_pair(shape=shape)
    errors = [abs(float(s) - float(t)) for s, t in zip(student.flatten(), teacher.flatten())]
    divisor = {"mean": len(errors), "sum": 1, "batchmean": shape[0]}[reduction]
    expected = sum(errors) / divisor
    assert float(L1(reduction=reduction)(student, teacher)) == pytest.approx(expected, rel=1e-5)


def test_gradient_at_equal_entries_is_zero() -> None:
    student = torch.tensor([[1.0, 2.0]], requires_grad=True)
    L1()(student, torch.tensor([[1.0, 3.0]])).backward()
    assert student.grad.tolist() == [[0.0, -0.5]]


def test_unknown_reduction_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="'mean', 'sum', 'batchmean'"):
        L1(reduction="none")
