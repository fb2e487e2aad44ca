"""Every zoo model against the community fixture: keys in order, shapes, parameter count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from graphkd.models import MODELS, create_model, list_models, load_checkpoint

from .reference import fixture_state, load_fixture

FIXTURE = load_fixture()


def test_the_zoo_holds_exactly_the_community_names() -> None:
    assert sorted(FIXTURE) == list_models() == MODELS.names()


@pytest.mark.parametrize("name", list_models())
def test_state_dict_equals_the_fixture(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    expected = [(key, list(shape)) for key, shape in FIXTURE[name]["state_dict"]]
    got = [(key, list(t.shape)) for key, t in model.state_dict().items()]
    assert [k for k, _ in got] == [k for k, _ in expected]
    assert got == expected
    assert sum(p.numel() for p in model.parameters()) == FIXTURE[name]["params"]


@pytest.mark.parametrize("name", list_models())
def test_forward_shapes_rgb_32_and_grey_28(name: str) -> None:
    rgb = create_model(name).eval()
    grey = create_model(name, num_classes=10, in_channels=1, input_size=28).eval()
    with torch.no_grad():
        logits = rgb(torch.randn(2, 3, 32, 32))
        grey_logits = grey(torch.randn(2, 1, 28, 28))
    assert logits.shape == (2, 100)
    assert grey_logits.shape == (2, 10)
    assert bool(torch.isfinite(logits).all()) and bool(torch.isfinite(grey_logits).all())


@pytest.mark.parametrize("name", list_models())
def test_fixture_shaped_random_state_loads_strictly_and_resets(name: str) -> None:
    model = create_model(name)
    state = fixture_state(FIXTURE[name]["state_dict"])
    load_checkpoint(model, {"model": state}, strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key].to(value.dtype)), key
    model.reset_parameters()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.running_var, torch.ones_like(module.running_var))


def test_unknown_name_lists_the_zoo() -> None:
    with pytest.raises(ValueError, match="resnet8x4"):
        create_model("resnet9")


def test_options_reach_the_model_class() -> None:
    model = create_model("wrn_16_1", drop_rate=0.3)
    assert any(isinstance(m, nn.Dropout) and m.p == 0.3 for m in model.modules())
    assert create_model("vgg8", input_size=28).input_size == 28


@pytest.mark.parametrize("name", list_models())
def test_dtype_conversions_reach_every_tensor(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    assert all(p.dtype == torch.float16 for p in model.half().parameters())
    assert all(p.dtype == torch.float64 for p in model.double().parameters())


def test_double_precision_forward() -> None:
    model = create_model("ShuffleV2", num_classes=10).double().eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32, dtype=torch.float64)).dtype == torch.float64


def test_create_model_points_torchvision_names_to_create_network():
    with pytest.raises(ValueError, match="unknown model 'torchvision:resnet18'.*create_network"):
        create_model("torchvision:resnet18")
