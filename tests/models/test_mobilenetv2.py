"""MobileNetV2 (half width) against a functional reference of the community CIFAR code."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.models import create_model

from .reference import State, bn, conv, count_blocks, linear, randomise_batch_norms

FIRST_STRIDES = (1, 1, 2, 2, 1, 2, 1)


def reference(sd: State, x: Tensor, pool: Callable[[Tensor], Tensor]) -> Tensor:
    out = F.relu(bn(conv(x, sd, "conv1.0", 2, 1), sd, "conv1.1"))
    for s in range(7):
        for b in range(count_blocks(sd, f"blocks.{s}")):
            p = f"blocks.{s}.{b}.conv"
            stride = FIRST_STRIDES[s] if b == 0 else 1
            hidden = sd[p + ".0.weight"].shape[0]
            h = F.relu(bn(conv(out, sd, p + ".0"), sd, p + ".1"))
            h = F.relu(bn(conv(h, sd, p + ".3", stride, 1, groups=hidden), sd, p + ".4"))
            h = bn(conv(h, sd, p + ".6"), sd, p + ".7")
            out = out + h if stride == 1 and out.shape[1] == h.shape[1] else h
    out = F.relu(bn(conv(out, sd, "conv2.0"), sd, "conv2.1"))
    return linear(pool(out).flatten(1), sd, "classifier.0")


def test_matches_the_community_computation_exactly() -> None:
    model = create_model("MobileNetV2").eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = reference(sd, x, lambda t: F.avg_pool2d(t, 2, ceil_mode=True))
        assert torch.equal(model(x), expected)


def test_grey_28x28_pools_globally() -> None:
    model = create_model("MobileNetV2", num_classes=10, in_channels=1, input_size=28).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        expected = reference(sd, x, lambda t: t.mean((2, 3), keepdim=True))
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_linear_bottleneck_taps() -> None:
    taps = create_model("MobileNetV2").default_taps()
    assert taps.features == taps.preact_features == ("blocks.1", "blocks.2", "blocks.4", "blocks.6")
    assert taps.classifier == "classifier.0"
