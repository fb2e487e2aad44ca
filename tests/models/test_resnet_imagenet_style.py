"""ImageNetStyleResNet (ResNet18/50) against a functional reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.models import ImageNetStyleResNet, create_model

from .reference import State, bn, conv, count_blocks, linear, randomise_batch_norms


def reference(sd: State, x: Tensor) -> Tensor:
    out = F.relu(bn(conv(x, sd, "conv1", 1, 1), sd, "bn1"))
    for stage in (1, 2, 3, 4):
        for b in range(count_blocks(sd, f"layer{stage}")):
            p = f"layer{stage}.{b}"
            stride = 2 if stage > 1 and b == 0 else 1
            if p + ".conv3.weight" in sd:
                h = F.relu(bn(conv(out, sd, p + ".conv1"), sd, p + ".bn1"))
                h = F.relu(bn(conv(h, sd, p + ".conv2", stride, 1), sd, p + ".bn2"))
                h = bn(conv(h, sd, p + ".conv3"), sd, p + ".bn3")
            else:
                h = F.relu(bn(conv(out, sd, p + ".conv1", stride, 1), sd, p + ".bn1"))
                h = bn(conv(h, sd, p + ".conv2", 1, 1), sd, p + ".bn2")
            if p + ".shortcut.0.weight" in sd:
                shortcut = bn(conv(out, sd, p + ".shortcut.0", stride), sd, p + ".shortcut.1")
            else:
                shortcut = out
            out = F.relu(h + shortcut)
    return linear(F.adaptive_avg_pool2d(out, 1).flatten(1), sd, "linear")


@pytest.mark.parametrize("name", ["ResNet18", "ResNet50"])
def test_matches_the_community_computation_exactly(name: str) -> None:
    model = create_model(name).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(sd, x))


def test_grey_28x28() -> None:
    model = create_model("ResNet18", num_classes=10, in_channels=1, input_size=28).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), reference(sd, x))


def test_taps() -> None:
    with torch.device("meta"):
        taps = create_model("ResNet50").default_taps()
    assert taps.features == ("layer1", "layer2", "layer3", "layer4")
    assert taps.preact_features == (
        "layer1.2.merge",
        "layer2.3.merge",
        "layer3.5.merge",
        "layer4.2.merge",
    )
    assert taps.classifier == "linear"


def test_unknown_depth() -> None:
    with pytest.raises(ValueError, match="18, 34, 50, 101, 152"):
        ImageNetStyleResNet(20)
