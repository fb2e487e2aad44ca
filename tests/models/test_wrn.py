"""WideResNet against a functional reference of the community wide ResNet."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.models import WideResNet, create_model

from .reference import State, bn, conv, count_blocks, linear, randomise_batch_norms


def reference(sd: State, x: Tensor, pool: Callable[[Tensor], Tensor]) -> Tensor:
    out = conv(x, sd, "conv1", 1, 1)
    for stage in (1, 2, 3):
        for b in range(count_blocks(sd, f"block{stage}.layer")):
            p = f"block{stage}.layer.{b}"
            stride = 2 if stage > 1 and b == 0 else 1
            activated = F.relu(bn(out, sd, p + ".bn1"))
            h = F.relu(bn(conv(activated, sd, p + ".conv1", stride, 1), sd, p + ".bn2"))
            h = conv(h, sd, p + ".conv2", 1, 1)
            if p + ".convShortcut.weight" in sd:
                out = conv(activated, sd, p + ".convShortcut", stride) + h
            else:
                out = out + h
    out = F.relu(bn(out, sd, "bn1"))
    return linear(pool(out).flatten(1), sd, "fc")


@pytest.mark.parametrize("name", ["wrn_16_1", "wrn_16_2"])
def test_matches_the_community_computation_exactly(name: str) -> None:
    model = create_model(name).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(sd, x, lambda t: F.avg_pool2d(t, 8)))


def test_grey_28x28_pools_globally() -> None:
    model = create_model("wrn_16_2", num_classes=10, in_channels=1, input_size=28).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        expected = reference(sd, x, lambda t: t.mean((2, 3), keepdim=True))
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_dropout_only_in_training() -> None:
    model = WideResNet(16, 1, num_classes=10, drop_rate=0.5)
    x = torch.randn(2, 3, 32, 32)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_bad_depth() -> None:
    with pytest.raises(ValueError, match="6n\\+4"):
        WideResNet(18)
