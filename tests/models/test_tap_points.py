"""The declared taps of every zoo model name the tensors they promise."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from graphkd.models import TapPoints, create_model, list_models, tap


@pytest.mark.parametrize("name", list_models())
def test_declared_taps_hold(name: str) -> None:
    model = create_model(name).eval()
    taps = model.default_taps()
    assert isinstance(taps, TapPoints)
    modules = dict(model.named_modules())
    classifier = modules[taps.classifier]
    assert isinstance(classifier, nn.Linear)

    seen = {}

    def classifier_input(module: nn.Module, args: tuple) -> None:
        seen["input"] = args[0]

    def feature_map(module: nn.Module, args: tuple, output: Tensor) -> None:
        seen["map"] = output

    hooks = [
        classifier.register_forward_pre_hook(classifier_input),
        modules[taps.feature_map].register_forward_hook(feature_map),
    ]
    names = list(dict.fromkeys(taps.features + taps.preact_features))
    tapped = tap(model, features=names)
    with torch.no_grad():
        r = tapped(torch.randn(2, 3, 32, 32))
    for hook in hooks:
        hook.remove()

    assert r.logits.shape == (2, 100)
    assert r.embedding.shape == (2, classifier.in_features)
    assert torch.equal(r.embedding, seen["input"])
    assert torch.equal(r.logits, classifier(r.embedding))
    torch.testing.assert_close(seen["map"].mean((2, 3)), r.embedding, rtol=1e-5, atol=1e-5)
    sizes = []
    for post, pre in zip(taps.features, taps.preact_features):
        assert r.features[post].dim() == 4 and r.features[post].shape[0] == 2
        if post == pre:
            assert bool((r.features[post] < 0).any())  # a linear bottleneck
        else:
            assert torch.equal(r.features[post], torch.relu(r.features[pre]))
        sizes.append(r.features[post].shape[-1])
    assert sizes == sorted(sizes, reverse=True)
