"""Cosine distance against an explicit per-row reference."""

from __future__ import annotations

import math

import pytest
import torch

from graphkd.metrics import CosineDistance

from .cases import node_pair


def _reference(student: torch.Tensor, teacher: torch.Tensor) -> float:
    rows_s = student.reshape(-1, student.shape[-1]).tolist()
    rows_t = teacher.reshape(-1, teacher.shape[-1]).tolist()
    total = 0.0
    for a, b in zip(rows_s, rows_t):
        dot = sum(x * y for x, y in zip(a, b))
        norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
        total += 1.0 - dot / norms
    return total / len(rows_s)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (7,)])
def test_matches_reference(shape) -> None:
    student, teacher = node_pair(shape=shape)
    expected = _reference(student, teacher)
    assert float(CosineDistance()(student, teacher)) == pytest.approx(expected, rel=1e-5)


def test_matches_torch_cosine_similarity() -> None:
    student, teacher = node_pair(shape=(6, 3))
    expected = (1 - torch.nn.functional.cosine_similarity(student, teacher, dim=-1)).mean()
    assert torch.allclose(CosineDistance()(student, teacher), expected, atol=1e-6)


def test_zero_rows_have_similarity_zero() -> None:
    student = torch.zeros(2, 3)
    teacher = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert float(CosineDistance()(student, teacher)) == 1.0


def test_scale_invariant() -> None:
    student, teacher = node_pair()
    metric = CosineDistance()
    assert torch.allclose(metric(student, teacher), metric(3 * student, 0.5 * teacher), atol=1e-6)
