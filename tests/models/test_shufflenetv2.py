"""ShuffleNetV2 against a functional reference of the community CIFAR ShuffleV2."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.models import ShuffleNetV2, create_model

from .reference import State, bn, conv, count_blocks, linear, randomise_batch_norms, shuffle


def down_unit(sd: State, p: str, x: Tensor) -> Tensor:
    c = x.shape[1]
    mid = sd[p + ".conv3.weight"].shape[0]
    left = bn(conv(x, sd, p + ".conv1", 2, 1, groups=c), sd, p + ".bn1")
    left = F.relu(bn(conv(left, sd, p + ".conv2"), sd, p + ".bn2"))
    right = F.relu(bn(conv(x, sd, p + ".conv3"), sd, p + ".bn3"))
    right = bn(conv(right, sd, p + ".conv4", 2, 1, groups=mid), sd, p + ".bn4")
    right = F.relu(bn(conv(right, sd, p + ".conv5"), sd, p + ".bn5"))
    return shuffle(torch.cat([left, right], 1), 2)


def unit(sd: State, p: str, x: Tensor) -> Tensor:
    half = x.shape[1] // 2
    kept, branch = x[:, :half], x[:, half:]
    h = F.relu(bn(conv(branch, sd, p + ".conv1"), sd, p + ".bn1"))
    h = bn(conv(h, sd, p + ".conv2", 1, 1, groups=half), sd, p + ".bn2")
    h = F.relu(bn(conv(h, sd, p + ".conv3"), sd, p + ".bn3"))
    return shuffle(torch.cat([kept, h], 1), 2)


def reference(sd: State, x: Tensor, pool: Callable[[Tensor], Tensor]) -> Tensor:
    out = F.relu(bn(conv(x, sd, "conv1"), sd, "bn1"))
    for stage in (1, 2, 3):
        for b in range(count_blocks(sd, f"layer{stage}")):
            p = f"layer{stage}.{b}"
            out = down_unit(sd, p, out) if b == 0 else unit(sd, p, out)
    out = F.relu(bn(conv(out, sd, "conv2"), sd, "bn2"))
    return linear(pool(out).flatten(1), sd, "linear")


def test_matches_the_community_computation_exactly() -> None:
    model = create_model("ShuffleV2").eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(sd, x, lambda t: F.avg_pool2d(t, 4)))


def test_grey_28x28_pools_globally() -> None:
    model = create_model("ShuffleV2", num_classes=10, in_channels=1, input_size=28).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        expected = reference(sd, x, lambda t: t.mean((2, 3), keepdim=True))
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_unit_preactivation_is_the_shuffle_output() -> None:
    taps = create_model("ShuffleV2").default_taps()
    assert taps.preact_features == ("layer1.3.shuffle", "layer2.7.shuffle", "layer3.3.shuffle")
    assert taps.feature_map == "relu2"


def test_every_stage_needs_a_unit() -> None:
    with pytest.raises(ValueError, match="at least one stride-1 unit"):
        ShuffleNetV2(stage_blocks=(3, 7, 0))
