"""The batch norm behind each pre-activation tap is the one the reference implementations
name (mdistiller's and RepDistiller's ``get_bn_before_relu``), for every zoo model."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from graphkd.models import TapPoints, create_model, list_models, tap
from graphkd.models.preact_batchnorm import preact_batchnorm_affine, preact_batchnorms


def last_child(module: nn.Module, name: str) -> str:
    children = list(module.named_children())
    return f"{name}.{children[-1][0]}"


def expected(model: nn.Module, features) -> dict:
    """The reference's choice per family: the last block's final batch norm of the main
    branch (bn2 of a basic block, bn3 of a bottleneck or ShuffleNetV1 unit), the last
    module of a VGG block or of a linear bottleneck's conv stack, WRN's tapped norms."""
    modules = dict(model.named_modules())
    want = {}
    for feature in features:
        module = modules[feature]
        if isinstance(module, nn.BatchNorm2d):  # WRN
            want[feature] = feature
        elif feature.endswith(".merge"):  # residual blocks: '<layer>.<block>.merge'
            block = feature[: -len(".merge")]
            norms = [n for n in ("bn3", "bn2") if f"{block}.{n}" in modules]
            want[feature] = f"{block}.{norms[0]}"
        elif feature.startswith("blocks."):  # MobileNetV2: last unit's conv stack's last
            unit = last_child(module, feature)
            want[feature] = last_child(modules[f"{unit}.conv"], f"{unit}.conv")
        elif feature.startswith("block"):  # VGG: the block's last module, a batch norm
            want[feature] = last_child(module, feature)
    return want


@pytest.mark.parametrize("name", list_models())
def test_each_zoo_pre_activation_tap_finds_the_references_batch_norm(name: str) -> None:
    model = create_model(name)
    tapped = tap(model, preact=True)
    found = preact_batchnorms(tapped, torch.zeros(2, 3, 32, 32))
    if name == "ShuffleV2":  # its tapped map concatenates an untouched half: no single norm
        assert found == {}
        return
    assert found == expected(model, tapped.features)
    modules = dict(model.named_modules())
    assert all(isinstance(modules[bn], nn.BatchNorm2d) for bn in found.values())
    assert model.training  # the probe restores the mode


def test_activated_taps_and_torchvision_models_find_their_batch_norms() -> None:
    net = torchvision.models.resnet18(num_classes=10)
    with torch.no_grad():
        net.layer4[1].bn2.weight.fill_(0.5)
    tapped = tap(net)  # torchvision declares no pre-activation taps
    found = preact_batchnorms(tapped, torch.zeros(2, 3, 64, 64))
    assert found == {f"layer{i}": f"layer{i}.1.bn2" for i in (1, 2, 3, 4)}
    gamma, beta = preact_batchnorm_affine(tapped, torch.zeros(2, 3, 64, 64))["layer4"]
    assert torch.equal(gamma, torch.full((512,), 0.5)) and torch.equal(beta, torch.zeros(512))
    assert not gamma.requires_grad  # detached copies
    resnet = tap(create_model("resnet8"))  # activated zoo taps: the same norms
    assert preact_batchnorms(resnet, torch.zeros(2, 3, 32, 32)) == {
        f"layer{i}": f"layer{i}.0.bn2" for i in (1, 2, 3)
    }


@pytest.mark.parametrize("name, norm", [("resnet18", "bn2"), ("resnet50", "bn3")])
def test_torchvision_resnets_tapped_before_activation(name: str, norm: str) -> None:
    """torchvision's blocks add the shortcut and call their one (in-place) ReLU a last
    time: the tap copies that call's input, the stage's pre-activation output."""
    net = getattr(torchvision.models, name)(num_classes=10).train()
    post, pre = tap(net), tap(net, preact=True)
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    activated, before = post(x).features, pre(x).features
    last = {
        stage: len(getattr(net, stage)) - 1 for stage in ("layer1", "layer2", "layer3", "layer4")
    }
    assert list(before) == [f"{stage}.{k}.relu" for stage, k in last.items()]
    for a, b in zip(activated.values(), before.values()):
        torch.testing.assert_close(a, torch.relu(b))
        assert bool((b < 0).any())
    before["layer2.1.relu" if name == "resnet18" else "layer2.3.relu"].sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    found = preact_batchnorms(pre, torch.zeros(2, 3, 64, 64))
    assert found == {f"{stage}.{k}.relu": f"{stage}.{k}.{norm}" for stage, k in last.items()}


def test_torchvision_mobilenet_v2_tapped_before_activation() -> None:
    """Linear bottlenecks: the stage outputs themselves, read as the next block's input;
    the last stage: the input of its in-place ReLU6."""
    net = torchvision.models.mobilenet_v2(num_classes=10).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        activated, before = tap(net)(x).features, tap(net, preact=True)(x).features
    assert list(before) == [
        "features.2",
        "features.4",
        "features.7",
        "features.14",
        "features.18.2",
    ]
    for (name, a), b in zip(activated.items(), before.values()):
        torch.testing.assert_close(a, b if name != "features.18" else b.clamp(0, 6))
    assert bool((before["features.18.2"] < 0).any())
    found = preact_batchnorms(tap(net, preact=True), x)
    assert found == {
        "features.2": "features.1.conv.2",
        "features.4": "features.3.conv.3",
        "features.7": "features.6.conv.3",
        "features.14": "features.13.conv.3",
        "features.18.2": "features.18.1",
    }


def test_networks_without_pre_activation_modules_say_so() -> None:
    class Declared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.pool, self.fc = (
                nn.Conv2d(3, 4, 1),
                nn.AdaptiveAvgPool2d(1),
                nn.Linear(4, 2),
            )

        def forward(self, x):
            return self.fc(self.pool(self.conv(x)).flatten(1))

        def default_taps(self) -> TapPoints:
            return TapPoints("pool", ("conv",), (), "conv", "fc")

    with pytest.raises(ValueError, match="no modules for its pre-activation stage outputs"):
        tap(Declared(), preact=True)
