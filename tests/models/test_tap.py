"""tap() and TappedModel on zoo models and on a torchvision network."""

from __future__ import annotations

import copy
import gc
import pickle
import weakref

import pytest
import torch
import torchvision
from torch import nn

from graphkd.models import TappedModel, create_model, tap
from graphkd.responses import Responses


def hooks_on(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture
def resnet8x4() -> nn.Module:
    return create_model("resnet8x4").eval()


def test_zoo_defaults(resnet8x4: nn.Module) -> None:
    tapped = tap(resnet8x4)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        r = tapped(x)
        direct = resnet8x4(x)
    assert isinstance(r, Responses)
    assert torch.equal(r.logits, direct)
    assert r.embedding.shape == (2, resnet8x4.fc.in_features)
    assert [tuple(f.shape) for f in r.features.values()] == [
        (2, 64, 32, 32),
        (2, 128, 16, 16),
        (2, 256, 8, 8),
    ]
    assert list(r.features) == ["layer1", "layer2", "layer3"]
    assert tapped.embedding == "avgpool" and tapped.embedding_from == "output"


def test_zoo_preact_defaults(resnet8x4: nn.Module) -> None:
    with torch.no_grad():
        r = tap(resnet8x4, preact=True)(torch.randn(2, 3, 32, 32))
    assert list(r.features) == ["layer1.0.merge", "layer2.0.merge", "layer3.0.merge"]
    assert bool((r.features["layer3.0.merge"] < 0).any())


def test_torchvision_resnet18_with_named_layers() -> None:
    net = torchvision.models.resnet18(num_classes=10).eval()
    tapped = tap(net, features=["layer2", "layer4"])
    assert tapped.embedding == "avgpool" and tapped.embedding_from == "output"  # known family
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        r = tapped(x)
        expected_embedding = net.avgpool(r.features["layer4"]).flatten(1)
        direct = net(x)
    assert r.features["layer2"].shape == (2, 128, 4, 4)
    assert r.features["layer4"].shape == (2, 512, 1, 1)
    assert torch.equal(r.embedding, expected_embedding)
    assert torch.equal(r.logits, net.fc(r.embedding))
    assert torch.equal(r.logits, direct)


def test_named_embedding_is_flattened() -> None:
    net = torchvision.models.resnet18(num_classes=10).eval()
    with torch.no_grad():
        r = tap(net, embedding="layer4")(torch.randn(2, 3, 32, 32))
    assert r.embedding.shape == (2, 512)
    assert list(r.features) == ["layer1", "layer2", "layer3", "layer4"]  # known family


def test_gradients_reach_every_parameter_through_the_taps() -> None:
    model = create_model("resnet8", num_classes=10)
    r = tap(model)(torch.randn(4, 3, 32, 32))
    loss = r.logits.sum() + r.embedding.pow(2).sum() + sum(f.mean() for f in r.features.values())
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name


def test_unknown_names_list_close_ones(resnet8x4: nn.Module) -> None:
    with pytest.raises(ValueError, match="'layer1'"):
        tap(resnet8x4, features=["layr1"])
    with pytest.raises(ValueError, match="top-level modules: 'conv1'"):
        tap(resnet8x4, embedding="qqqqqqqq")
    assert hooks_on(resnet8x4) == 0


def test_modules_that_run_twice_are_rejected() -> None:
    net = torchvision.models.resnet18(num_classes=10).eval()
    tapped = tap(net, features=["layer1.0.relu"])
    with pytest.raises(ValueError, match="ran 2 times"):
        tapped(torch.randn(1, 3, 32, 32))


def test_bad_arguments(resnet8x4: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"features=\['layer1'\]"):
        tap(resnet8x4, features="layer1")
    with pytest.raises(ValueError, match="more than once"):
        tap(resnet8x4, features=["layer1", "layer1"])
    with pytest.raises(ValueError, match="preact"):
        tap(resnet8x4, features=["layer1"], preact=True)
    with pytest.raises(ValueError, match="no default_taps"):
        tap(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), preact=True)
    with pytest.raises(ValueError, match="no nn.Linear"):
        tap(nn.Sequential(nn.Conv2d(3, 4, 1)))
    with pytest.raises(ValueError, match="already tapped"):
        tap(tap(resnet8x4))


def test_remove_and_context_manager(resnet8x4: nn.Module) -> None:
    tapped = tap(resnet8x4)
    assert hooks_on(resnet8x4) == 4 and tapped.active
    tapped.remove()
    assert hooks_on(resnet8x4) == 0 and not tapped.active
    with pytest.raises(ValueError, match="removed"):
        tapped(torch.randn(1, 3, 32, 32))
    with tap(resnet8x4) as tapped:
        assert hooks_on(resnet8x4) == 4
    assert hooks_on(resnet8x4) == 0


def test_no_tensor_outlives_the_responses(resnet8x4: nn.Module) -> None:
    tapped = tap(resnet8x4)
    r = tapped(torch.randn(2, 3, 32, 32))
    refs = [weakref.ref(r.embedding)] + [weakref.ref(f) for f in r.features.values()]
    del r
    gc.collect()
    assert all(ref() is None for ref in refs)
    assert tapped._store.values == {} and not tapped._store.recording


def test_a_failing_forward_leaves_nothing_recorded(resnet8x4: nn.Module) -> None:
    tapped = tap(resnet8x4)
    with pytest.raises(RuntimeError):
        tapped(torch.randn(2, 5, 32, 32))
    assert tapped._store.values == {} and not tapped._store.recording


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))])
def test_deepcopy_and_pickle_keep_working_hooks(resnet8x4: nn.Module, clone) -> None:
    tapped = tap(resnet8x4)
    twin = clone(tapped)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, b = tapped(x), twin(x)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.embedding, b.embedding)
    assert all(torch.equal(a.features[k], b.features[k]) for k in a.features)
    twin.remove()
    assert hooks_on(twin.model) == 0
    assert hooks_on(resnet8x4) == 4
    with torch.no_grad():
        assert torch.equal(tapped(x).embedding, a.embedding)


def test_copies_of_the_bare_network_record_nothing(resnet8x4: nn.Module) -> None:
    tapped = tap(resnet8x4)
    twin_net = copy.deepcopy(tapped.model)
    with torch.no_grad():
        twin_net(torch.randn(1, 3, 32, 32))
    stores = {id(h.store) for m in twin_net.modules() for h in m._forward_hooks.values()}
    assert len(stores) == 1 and tapped._store.values == {}


def test_moves_with_to(resnet8x4: nn.Module) -> None:
    tapped = tap(resnet8x4).to(torch.float64)
    assert isinstance(tapped, TappedModel)
    assert resnet8x4.fc.weight.dtype == torch.float64
    with torch.no_grad():
        r = tapped(torch.randn(2, 3, 32, 32, dtype=torch.float64))
    assert r.embedding.dtype == torch.float64


@pytest.mark.skipif(torch.cuda.is_available(), reason="DataParallel without devices is CPU-only")
def test_parallel_wrappers_resolve_inside(resnet8x4: nn.Module) -> None:
    tapped = tap(nn.DataParallel(resnet8x4, device_ids=[]))
    assert tapped.features == ("module.layer1", "module.layer2", "module.layer3")
    assert tapped.embedding == "module.avgpool"
    with torch.no_grad():
        r = tapped(torch.randn(2, 3, 32, 32))
    assert r.embedding.shape == (2, 256)


def test_compiled_models_resolve_inside() -> None:
    model = create_model("resnet8").eval()
    tapped = tap(torch.compile(model, backend="eager"))
    assert tapped.features == ("_orig_mod.layer1", "_orig_mod.layer2", "_orig_mod.layer3")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        r = tapped(x)
        assert torch.equal(r.logits, model(x))
    assert r.features["_orig_mod.layer3"].shape == (2, 64, 8, 8)
