"""Networks by name: zoo, torchvision (random or pretrained from the hub cache) and timm."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision

from graphkd.models import (
    create_network,
    has_pretrained_weights,
    known_tap_points,
    parse_network,
    tap,
)
from graphkd.models.network_source import hub_file


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("resnet9", "unknown model 'resnet9'; valid names: MobileNetV2"),
        ("keras:resnet50", "malformed model name 'keras:resnet50'"),
        ("torchvision:resnet34:IMAGENET1K_V1:x", "malformed model name"),
        ("torchvision:resnet35", "unknown torchvision classification model 'resnet35'"),
        ("torchvision:resnet34:IMAGENET9K", "valid weights: DEFAULT, IMAGENET1K_V1"),
        ("timm:resnet50:a1_in1k", "timm:resnet50.<tag>:pretrained"),
    ],
)
def test_bad_names(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_network(name)


def test_names_parse() -> None:
    assert parse_network("resnet8x4").source == "zoo"
    assert not has_pretrained_weights("torchvision:resnet18")
    assert has_pretrained_weights("torchvision:resnet34:DEFAULT")
    assert (
        create_network("resnet8", num_classes=7, in_channels=1, input_size=28).fc.out_features == 7
    )


def test_torchvision_resnet_tapped_by_stage() -> None:
    net = create_network("torchvision:resnet18", num_classes=10).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        r = tap(net)(x)
        direct = net(x)
    assert list(r.features) == ["layer1", "layer2", "layer3", "layer4"]
    assert [f.shape[1] for f in r.features.values()] == [64, 128, 256, 512]
    assert torch.equal(r.embedding, r.features["layer4"].mean((2, 3)))
    assert torch.allclose(r.logits, r.embedding @ net.fc.weight.t() + net.fc.bias, atol=1e-5)
    assert torch.equal(r.logits, direct)
    with torch.no_grad():
        pre = tap(net, preact=True)(x)  # the last input of each stage's last block's relu
    assert list(pre.features) == [f"layer{i}.1.relu" for i in (1, 2, 3, 4)]
    for post, before in zip(r.features.values(), pre.features.values()):
        assert torch.equal(post, torch.relu(before)) and bool((before < 0).any())


def test_torchvision_mobilenet_v2_embedding_is_before_dropout() -> None:
    net = create_network("torchvision:mobilenet_v2", num_classes=5).train()
    r = tap(net)(torch.randn(3, 3, 64, 64))
    assert list(r.features) == [
        "features.1",
        "features.3",
        "features.6",
        "features.13",
        "features.18",
    ]
    assert [f.shape[-1] for f in r.features.values()] == [32, 16, 8, 4, 2]  # strides 2 .. 32
    assert torch.allclose(r.embedding, r.features["features.18"].mean((2, 3)), atol=1e-6)
    assert r.logits.shape == (3, 5)


def test_pretrained_weights_load_from_the_hub_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    name = "torchvision:mobilenet_v3_small:IMAGENET1K_V1"
    weights = torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    saved = torchvision.models.mobilenet_v3_small(weights=None).state_dict()
    target = hub_file(weights.url)
    assert target == tmp_path / "hub" / "checkpoints" / "mobilenet_v3_small-047dcff4.pth"
    target.parent.mkdir(parents=True)
    torch.save(saved, target)

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    net = create_network(name, num_classes=1000)
    for key, value in net.state_dict().items():
        assert torch.equal(value, saved[key]), key
    target.unlink()
    with pytest.raises(RuntimeError, match=f"place it at {target}"):
        create_network(name, num_classes=1000)
    with pytest.raises(ValueError, match="predicts 1000 classes but the dataset has 10"):
        create_network(name, num_classes=10)
    with pytest.raises(ValueError, match="takes RGB images"):
        create_network("torchvision:resnet18", num_classes=10, in_channels=1)


def test_unknown_families_fall_back_to_the_last_linear() -> None:
    net = create_network("torchvision:mobilenet_v3_small", num_classes=4).eval()
    assert known_tap_points(net) is None
    with torch.no_grad():
        r = tap(net)(torch.randn(2, 3, 32, 32))
    assert r.embedding.shape == (2, 1024) and r.features == {}


def test_timm_network_tapped_by_feature_info() -> None:
    timm = pytest.importorskip("timm")
    net = create_network("timm:resnet18", num_classes=6).eval()
    assert isinstance(net, timm.models.ResNet)
    with torch.no_grad():
        r = tap(net)(torch.randn(2, 3, 64, 64))
    assert list(r.features) == [info["module"] for info in net.feature_info]
    assert torch.allclose(r.embedding, r.features["layer4"].mean((2, 3)), atol=1e-6)
    assert r.logits.shape == (2, 6)
    with pytest.raises(ValueError, match="timm cannot build 'no_such_net'"):
        create_network("timm:no_such_net")
