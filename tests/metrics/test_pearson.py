"""Pearson distance against an explicit per-slice reference (both DIST directions)."""

from __future__ import annotations

import math

import pytest
import torch

from graphkd.metrics import PearsonDistance

from .cases import node_pair


def _pearson(a: list, b: list) -> float:
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    da = [x - mean_a for x in a]
    db = [y - mean_b for y in b]
    cov = sum(x * y for x, y in zip(da, db))
    return cov / (math.sqrt(sum(x * x for x in da)) * math.sqrt(sum(y * y for y in db)))


@pytest.mark.parametrize("dim", [1, 0, -1])
def test_matches_reference_on_2d(dim: int) -> None:
    student, teacher = node_pair(shape=(4, 5))
    if dim == 0:
        student, teacher = student.t(), teacher.t()
    rows = [1.0 - _pearson(a, b) for a, b in zip(student.tolist(), teacher.tolist())]
    if dim == 0:
        student, teacher = student.t(), teacher.t()
    value = PearsonDistance(dim=dim)(student, teacher)
    assert float(value) == pytest.approx(sum(rows) / len(rows), rel=1e-5)


def test_dist_inter_and_intra_relations() -> None:
    """DIST: inter = per sample across classes, intra = per class across the batch."""
    z_s, z_t = node_pair(shape=(6, 4))
    p_s, p_t = (z_s / 4).softmax(1), (z_t / 4).softmax(1)
    inter = [1 - _pearson(a, b) for a, b in zip(p_s.tolist(), p_t.tolist())]
    intra = [1 - _pearson(a, b) for a, b in zip(p_s.t().tolist(), p_t.t().tolist())]
    assert float(PearsonDistance(dim=1)(p_s, p_t)) == pytest.approx(sum(inter) / 6, rel=1e-5)
    assert float(PearsonDistance(dim=0)(p_s, p_t)) == pytest.approx(sum(intra) / 4, rel=1e-5)


def test_affine_invariance_and_sign() -> None:
    student, _ = node_pair()
    metric = PearsonDistance()
    assert float(metric(student, 5 * student - 2)) == pytest.approx(0.0, abs=1e-6)
    assert float(metric(student, -student)) == pytest.approx(2.0, abs=1e-6)


def test_constant_slice_counts_as_uncorrelated() -> None:
    student = torch.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    teacher = torch.tensor([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
    assert float(PearsonDistance()(student, teacher)) == pytest.approx(0.5, abs=1e-6)


def test_out_of_range_dim_is_rejected_with_the_valid_range() -> None:
    student, teacher = node_pair()
    with pytest.raises(ValueError, match=r"dim=2 is out of range.*\[-2, 1\]"):
        PearsonDistance(dim=2)(student, teacher)
