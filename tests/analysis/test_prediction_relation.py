"""prediction_relation: cosine similarity of predicted distributions."""

import math

import pytest
import torch

from graphkd.analysis import prediction_relation


def test_equals_a_loop_reference():
    z = torch.randn(5, 4, dtype=torch.float64)
    p = (z / 2).softmax(1).tolist()
    expected = [
        [
            sum(a * b for a, b in zip(p[i], p[j]))
            / math.sqrt(sum(a * a for a in p[i]) * sum(b * b for b in p[j]))
            for j in range(5)
        ]
        for i in range(5)
    ]
    result = prediction_relation(z, temperature=2.0)
    torch.testing.assert_close(
        result.double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6, rtol=1e-6
    )
    torch.testing.assert_close(result, result.t())


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        prediction_relation(torch.zeros(3))
    with pytest.raises(ValueError, match="positive"):
        prediction_relation(torch.zeros(3, 2), temperature=0.0)
