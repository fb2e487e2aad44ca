"""CifarResNet against a functional reference of the community CIFAR ResNet."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.models import CifarResNet, create_model

from .reference import State, bn, conv, count_blocks, linear, randomise_batch_norms


def reference(sd: State, x: Tensor, pool: Callable[[Tensor], Tensor]) -> Tensor:
    out = F.relu(bn(conv(x, sd, "conv1", 1, 1), sd, "bn1"))
    for stage in (1, 2, 3):
        for b in range(count_blocks(sd, f"layer{stage}")):
            p = f"layer{stage}.{b}"
            stride = 2 if stage > 1 and b == 0 else 1
            h = F.relu(bn(conv(out, sd, p + ".conv1", stride, 1), sd, p + ".bn1"))
            h = bn(conv(h, sd, p + ".conv2", 1, 1), sd, p + ".bn2")
            if p + ".downsample.0.weight" in sd:
                shortcut = bn(conv(out, sd, p + ".downsample.0", stride), sd, p + ".downsample.1")
            else:
                shortcut = out
            out = F.relu(h + shortcut)
    return linear(pool(out).flatten(1), sd, "fc")


@pytest.mark.parametrize("name", ["resnet8x4", "resnet20"])
def test_matches_the_community_computation_exactly(name: str) -> None:
    model = create_model(name).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(sd, x, lambda t: F.avg_pool2d(t, 8)))


def test_grey_28x28_pools_globally() -> None:
    model = create_model("resnet8", num_classes=10, in_channels=1, input_size=28).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        expected = reference(sd, x, lambda t: t.mean((2, 3), keepdim=True))
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def test_taps_name_the_stage_outputs() -> None:
    taps = create_model("resnet32").default_taps()
    assert taps.features == ("layer1", "layer2", "layer3")
    assert taps.preact_features == ("layer1.4.merge", "layer2.4.merge", "layer3.4.merge")


def test_he_initialisation_and_reset() -> None:
    model = CifarResNet(20)
    weight = model.layer2[1].conv1.weight
    assert float(weight.detach().std()) == pytest.approx((2 / (32 * 9)) ** 0.5, rel=0.1)
    randomise_batch_norms(model)
    model.reset_parameters()
    assert torch.equal(model.bn1.weight, torch.ones(16))
    assert torch.equal(model.layer1[0].bn2.running_var, torch.ones(16))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depth": 9}, "6n\\+2"),
        ({"depth": 8, "widths": (16, 32)}, "4 entries"),
        ({"depth": 8, "input_size": 2}, "at least 4"),
        ({"depth": 8, "num_classes": 0}, "num_classes"),
    ],
)
def test_bad_options_are_rejected(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CifarResNet(**kwargs)
