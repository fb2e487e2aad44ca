"""cam: class-activation maps against a hand computation with explicit bilinear loops."""

import math

import pytest
import torch
from torch import nn

from graphkd.analysis import cam
from graphkd.models import TapPoints, create_model, tap


class TinyNet(nn.Module):
    """conv -> ReLU (the feature map) -> global average pool -> linear."""

    def __init__(self, classes=3, channels=2, with_taps=True):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, classes)
        self.with_taps = with_taps

    def forward(self, x):
        return self.head(self.pool(self.relu(self.conv(x))).flatten(1))


class TinyNetWithTaps(TinyNet):
    def default_taps(self):
        return TapPoints("pool", ("relu",), ("conv",), "relu", "head")


def bilinear_loops(small, height, width):
    """Bilinear upsampling with half-pixel centres, written out pixel by pixel."""
    h, w = len(small), len(small[0])
    out = [[0.0] * width for _ in range(height)]
    for i in range(height):
        y = max((i + 0.5) * h / height - 0.5, 0.0)
        y0 = min(int(math.floor(y)), h - 1)
        y1, dy = min(y0 + 1, h - 1), y - y0
        for j in range(width):
            x = max((j + 0.5) * w / width - 0.5, 0.0)
            x0 = min(int(math.floor(x)), w - 1)
            x1, dx = min(x0 + 1, w - 1), x - x0
            top = small[y0][x0] * (1 - dx) + small[y0][x1] * dx
            bottom = small[y1][x0] * (1 - dx) + small[y1][x1] * dx
            out[i][j] = top * (1 - dy) + bottom * dy
    return out


def hand_cam(net, images):
    maps = []
    weight = net.head.weight.detach().tolist()  # (C, K)
    for image in images:
        feature = torch.relu(net.conv(image[None]))[0].detach().tolist()  # (K, h, w)
        h, w = len(feature[0]), len(feature[0][0])
        small = [
            [
                sum(
                    weight[c][k] * feature[k][y][x]
                    for c in range(len(weight))
                    for k in range(len(feature))
                )
                for x in range(w)
            ]
            for y in range(h)
        ]
        big = bilinear_loops(small, images.shape[-2], images.shape[-1])
        low = min(min(row) for row in big)
        high = max(max(row) for row in big)
        maps.append([[(v - low) / (high - low) for v in row] for row in big])
    return torch.tensor(maps, dtype=torch.float64)


def test_cam_equals_a_hand_computation_on_a_tiny_model():
    net = TinyNetWithTaps().double()
    images = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    result = cam(net, images)
    assert result.shape == (3, 8, 8)
    torch.testing.assert_close(result, hand_cam(net, images), rtol=1e-9, atol=1e-9)
    # a tapped model gives the same maps; explicit names on a model without taps too
    torch.testing.assert_close(cam(tap(net), images), result)
    plain = TinyNet().double()
    plain.load_state_dict(net.state_dict())
    torch.testing.assert_close(cam(plain, images, feature_map="relu"), result)


def test_cam_of_a_zoo_model_uses_its_declared_feature_map_and_classifier():
    net = create_model("resnet8", num_classes=5, in_channels=1, input_size=12).double().eval()
    images = torch.randn(2, 1, 12, 12, dtype=torch.float64)
    tapped = tap(net, features=["layer3"])
    feature = tapped(images).features["layer3"]
    summed = torch.einsum("ck,bkhw->bhw", net.fc.weight, feature)
    up = nn.functional.interpolate(summed[:, None], size=(12, 12), mode="bilinear")[:, 0]
    low = up.flatten(1).min(1).values[:, None, None]
    high = up.flatten(1).max(1).values[:, None, None]
    torch.testing.assert_close(cam(tapped, images), (up - low) / (high - low))
    maps = cam(net, images)
    assert maps.amin(dim=(1, 2)).tolist() == [0.0, 0.0]
    assert maps.amax(dim=(1, 2)).tolist() == [1.0, 1.0]


def test_cam_restores_the_training_flag_and_keeps_no_hook():
    net = TinyNetWithTaps().train()
    cam(net, torch.randn(2, 1, 8, 8))
    assert net.training
    assert not net.relu._forward_hooks


def test_a_constant_map_becomes_zeros():
    net = TinyNetWithTaps()
    nn.init.zeros_(net.head.weight)
    assert torch.equal(cam(net, torch.randn(2, 1, 8, 8)), torch.zeros(2, 8, 8))


class ConvHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(1, 4, 3, padding=1)
        self.classifier = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        return self.classifier(self.features(x)).mean((2, 3))

    def default_taps(self):
        return TapPoints("features", (), (), "features", "classifier")


def test_models_without_a_linear_classifier_are_rejected():
    with pytest.raises(ValueError, match="CAM needs .* nn.Linear"):
        cam(ConvHead(), torch.randn(1, 1, 8, 8))


def test_bad_input_is_rejected():
    images = torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match="feature_map="):
        cam(TinyNet(), images)  # no default_taps and no feature map named
    zoo = create_model("resnet8", num_classes=3, in_channels=1, input_size=8)
    with pytest.raises(ValueError, match="takes 64 features"):
        cam(zoo, images, feature_map="layer2")  # 32 channels, the classifier reads 64
    with pytest.raises(ValueError, match="gives shape"):
        cam(TinyNetWithTaps(), images, feature_map="head")  # not a spatial map
    with pytest.raises(ValueError, match="classifier="):
        cam(TinyNetWithTaps(), images, classifier="nothing")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        cam(TinyNetWithTaps(), torch.randn(1, 8, 8))
