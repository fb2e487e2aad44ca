"""ShuffleNetV1 against a functional reference of the community CIFAR ShuffleV1."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.models import ShuffleNetV1, create_model

from .reference import State, bn, conv, count_blocks, linear, randomise_batch_norms, shuffle


def reference(sd: State, x: Tensor, pool: Callable[[Tensor], Tensor]) -> Tensor:
    out = F.relu(bn(conv(x, sd, "conv1"), sd, "bn1"))
    for stage in (1, 2, 3):
        for b in range(count_blocks(sd, f"layer{stage}")):
            p = f"layer{stage}.{b}"
            first_groups = 1 if out.shape[1] == 24 else 3
            mid = sd[p + ".conv1.weight"].shape[0]
            h = F.relu(bn(conv(out, sd, p + ".conv1", groups=first_groups), sd, p + ".bn1"))
            h = shuffle(h, first_groups)
            h = F.relu(bn(conv(h, sd, p + ".conv2", 2 if b == 0 else 1, 1, mid), sd, p + ".bn2"))
            h = bn(conv(h, sd, p + ".conv3", groups=3), sd, p + ".bn3")
            if b == 0:
                out = F.relu(torch.cat([h, F.avg_pool2d(out, 3, 2, 1)], 1))
            else:
                out = F.relu(h + out)
    return linear(pool(out).flatten(1), sd, "linear")


def test_matches_the_community_computation_exactly() -> None:
    model = create_model("ShuffleV1").eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(sd, x, lambda t: F.avg_pool2d(t, 4)))


def test_grey_28x28_pools_globally() -> None:
    model = create_model("ShuffleV1", num_classes=10, in_channels=1, input_size=28).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        expected = reference(sd, x, lambda t: t.mean((2, 3), keepdim=True))
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_every_stage_needs_a_unit() -> None:
    with pytest.raises(ValueError, match="at least one unit"):
        ShuffleNetV1(stage_blocks=(4, 0, 4))
