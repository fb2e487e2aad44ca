"""The input_size network option: a forward pre-hook that resizes the input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphkd.models import ResizeInput, create_network, input_resize, tap


def _first_conv_inputs(network):
    seen = []
    conv = next(m for m in network.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    return seen


def test_the_network_sees_its_own_size_and_computes_on_the_resized_batch():
    torch.manual_seed(0)
    resized = create_network("resnet8", 10, options={"input_size": 8}).eval()
    plain = create_network("resnet8", 10, input_size=8).eval()
    plain.load_state_dict(resized.state_dict())  # the same keys: the hook holds no weights
    seen = _first_conv_inputs(resized)
    images = torch.randn(2, 3, 32, 32)
    expected = plain(F.interpolate(images, size=(8, 8), mode="bilinear", align_corners=False))
    assert torch.allclose(resized(images), expected, atol=1e-6)
    assert seen == [(2, 3, 8, 8)]


@pytest.mark.parametrize("mode", ["bicubic", "nearest", "area"])
def test_the_interpolation_is_the_one_named(mode):
    hook = ResizeInput(4, mode)
    images = torch.randn(1, 2, 16, 16)
    (out,) = hook(torch.nn.Identity(), (images,))
    corners = False if mode == "bicubic" else None
    expected = F.interpolate(images, size=(4, 4), mode=mode, align_corners=corners)
    assert torch.equal(out, expected)


def test_an_input_of_the_size_passes_untouched():
    assert ResizeInput(8)(torch.nn.Identity(), (torch.randn(1, 3, 8, 8),)) is None


def test_taps_still_read_the_network_and_the_hook_is_found():
    network = create_network(
        "resnet8", 10, options={"input_size": 16, "input_interpolation": "area"}
    )
    responses = tap(network).eval()(torch.randn(2, 3, 32, 32))
    assert responses.logits.shape == (2, 10) and responses.features
    assert input_resize(network) is not None and input_resize(network).interpolation == "area"
    assert input_resize(create_network("resnet8", 10)) is None


@pytest.mark.parametrize(
    "options, message",
    [
        ({"input_size": 0}, r"model.network_options.resnet8.input_size must be .* got 0"),
        ({"input_size": "32"}, r"input_size must be .* got '32'"),
        (
            {"input_size": 8, "input_interpolation": "linear"},
            "input_interpolation must be one of bilinear, bicubic, nearest, area, got 'linear'",
        ),
        ({"input_interpolation": "bicubic"}, "input_interpolation resizes the input to input_size"),
    ],
)
def test_invalid_input_options_name_the_key(options, message):
    with pytest.raises(ValueError, match=message):
        create_network("resnet8", 10, options=options)
