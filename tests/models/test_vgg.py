"""VGG against a functional reference of the community CIFAR VGG with batch norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.models import VGG, create_model

from .reference import State, bn, conv, linear, randomise_batch_norms


def reference(sd: State, x: Tensor, pool_after_block3: bool = False) -> Tensor:
    out = x
    for i in range(5):
        j = 0
        while f"block{i}.{j}.weight" in sd:
            if j > 0:
                out = F.relu(out)
            out = bn(conv(out, sd, f"block{i}.{j}", 1, 1), sd, f"block{i}.{j + 1}")
            j += 3
        out = F.relu(out)
        if i < 3 or (i == 3 and pool_after_block3):
            out = F.max_pool2d(out, 2, 2)
    return linear(F.adaptive_avg_pool2d(out, 1).flatten(1), sd, "classifier")


@pytest.mark.parametrize("name", ["vgg8", "vgg13"])
def test_matches_the_community_computation_exactly(name: str) -> None:
    model = create_model(name).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), reference(sd, x))


def test_grey_28x28_keeps_a_512_classifier() -> None:
    model = create_model("vgg8", num_classes=10, in_channels=1, input_size=28).eval()
    assert model.classifier.in_features == 512
    sd = randomise_batch_norms(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), reference(sd, x))


def test_64_pixel_inputs_pool_after_block3() -> None:
    model = create_model("vgg8", input_size=64).eval()
    sd = randomise_batch_norms(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), reference(sd, x, pool_after_block3=True))


def test_small_normal_classifier_and_zero_biases() -> None:
    model = VGG(11)
    assert float(model.classifier.weight.detach().std()) == pytest.approx(0.01, rel=0.1)
    assert torch.equal(model.block2[3].bias, torch.zeros(256))


def test_unknown_depth() -> None:
    with pytest.raises(ValueError, match="8, 11, 13, 16, 19"):
        VGG(10)
