"""MSE against an explicit reference."""

from __future__ import annotations

import pytest
import torch

from graphkd.metrics import MSE

from .cases import node_pair


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean"])
@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 4), (6,)])
def test_matches_reference(reduction: str, shape) -> None:
    student, teacher = node_pair(shape=shape)
    squares = [(float(s) - float(t)) ** 2 for s, t in zip(student.flatten(), teacher.flatten())]
    divisor = {"mean": len(squares), "sum": 1, "batchmean": shape[0]}[reduction]
    expected = sum(squares) / divisor
    assert float(MSE(reduction=reduction)(student, teacher)) == pytest.approx(expected, rel=1e-5)


def test_batchmean_divides_by_rows_only() -> None:
    student, teacher = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    assert float(MSE(reduction="batchmean")(student, teacher)) == 12.0


def test_unknown_reduction_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="'mean', 'sum', 'batchmean'"):
        MSE(reduction="avg")
