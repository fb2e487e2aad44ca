"""The parameter-free blocks and initialisers shared by the zoo families."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graphkd.models._layers import (
    Add,
    ChannelShuffle,
    Concat,
    GlobalAvgPool2d,
    check_sizes,
    reset_tree,
)

from .reference import shuffle


@pytest.mark.parametrize("groups", [1, 2, 3])
def test_channel_shuffle_matches_reference(groups: int) -> None:
    x = torch.randn(2, 12, 3, 3)
    assert torch.equal(ChannelShuffle(groups)(x), shuffle(x, groups))


def test_channel_shuffle_interleaves_groups() -> None:
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert ChannelShuffle(3)(x).flatten().tolist() == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]


def test_global_pool_is_the_fixed_window_pool_on_cifar_maps() -> None:
    x = torch.randn(3, 5, 8, 8)
    assert torch.equal(GlobalAvgPool2d()(x), F.avg_pool2d(x, 8))
    y = torch.randn(3, 5, 7, 7)
    torch.testing.assert_close(GlobalAvgPool2d()(y), y.mean((2, 3), keepdim=True))


def test_merges() -> None:
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 5, 4, 4)
    assert torch.equal(Add()(a, a), 2 * a)
    assert torch.equal(Concat()(a, b)[:, 3:], b)


def test_reset_tree_policies() -> None:
    net = nn.Sequential(nn.Conv2d(64, 128, 3), nn.BatchNorm2d(128), nn.Linear(512, 256))
    with torch.no_grad():
        net[1].weight.fill_(3.0)
        net[1].running_var.fill_(5.0)
    reset_tree(net, he_conv=True, linear="small_normal")
    assert float(net[0].weight.detach().std()) == pytest.approx((2 / (128 * 9)) ** 0.5, rel=0.05)
    assert torch.equal(net[0].bias, torch.zeros(128))
    assert torch.equal(net[1].weight, torch.ones(128))
    assert torch.equal(net[1].running_var, torch.ones(128))
    assert float(net[2].weight.detach().std()) == pytest.approx(0.01, rel=0.05)
    assert torch.equal(net[2].bias, torch.zeros(256))
    reset_tree(net, he_conv=False, linear="zero_bias")
    bound = 1 / (64 * 9) ** 0.5
    assert float(net[0].weight.detach().abs().max()) <= bound
    assert float(net[2].weight.detach().abs().max()) <= 1 / 512**0.5
    assert torch.equal(net[2].bias, torch.zeros(256))


@pytest.mark.parametrize(
    "args, match",
    [
        ((0, 3, 32, 8), "num_classes"),
        ((10, 0, 32, 8), "in_channels"),
        ((10, 3, 4, 8), "at least 8"),
    ],
)
def test_check_sizes(args, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_sizes("Net", *args)
