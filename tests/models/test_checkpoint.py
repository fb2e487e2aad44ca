"""load_checkpoint: the three formats, wrapper prefixes, and errors that say what differs."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from graphkd.models import CHECKPOINT_FORMAT, create_model, load_checkpoint, tap

from .reference import randomise_batch_norms


class Opaque:
    """A custom object that ``weights_only`` loading refuses."""


@pytest.fixture
def trained() -> nn.Module:
    model = create_model("resnet8").eval()
    randomise_batch_norms(model, seed=3)
    return model


def outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"model": sd, "epoch": 240, "accuracy": torch.tensor(72.5)},
        lambda sd: sd,
        lambda sd: {"format": CHECKPOINT_FORMAT, "model": sd, "epoch": 3},
        lambda sd: {"student": sd, "optimizer": {"state": {}}},
        lambda sd: {"model_state": sd},
    ],
    ids=["community", "plain", "graphkd", "student", "model_state"],
)
def test_formats_round_trip_through_files(trained: nn.Module, tmp_path, wrap) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(trained.state_dict()), path)
    fresh = create_model("resnet8")
    result = load_checkpoint(fresh, path)
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(outputs(fresh, x), outputs(trained, x))


def test_ddp_and_compile_prefixes_are_stripped(trained: nn.Module) -> None:
    prefixed = OrderedDict(("module._orig_mod." + k, v) for k, v in trained.state_dict().items())
    fresh = create_model("resnet8")
    load_checkpoint(fresh, {"model": prefixed})
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(outputs(fresh, x), outputs(trained, x))


def test_loads_into_tapped_models(trained: nn.Module) -> None:
    tapped = tap(create_model("resnet8"))
    load_checkpoint(tapped, {"model": trained.state_dict()})
    assert torch.equal(tapped.model.fc.weight, trained.fc.weight)


@pytest.mark.skipif(torch.cuda.is_available(), reason="DataParallel without devices is CPU-only")
def test_loads_into_parallel_wrappers(trained: nn.Module) -> None:
    state = {"model": trained.state_dict()}
    wrapped = nn.DataParallel(create_model("resnet8"), device_ids=[])
    load_checkpoint(wrapped, state)
    assert torch.equal(wrapped.module.fc.weight, trained.fc.weight)


def test_missing_running_step_counters_are_tolerated(trained: nn.Module) -> None:
    old = {k: v for k, v in trained.state_dict().items() if "num_batches_tracked" not in k}
    load_checkpoint(create_model("resnet8"), old)


def test_student_and_teacher_need_a_key(trained: nn.Module) -> None:
    state = trained.state_dict()
    both = {"student": state, "teacher": create_model("resnet8").state_dict()}
    with pytest.raises(ValueError, match="key='student' or key='teacher'"):
        load_checkpoint(create_model("resnet8"), both)
    fresh = create_model("resnet8")
    load_checkpoint(fresh, both, key="student")
    assert torch.equal(fresh.fc.weight, trained.fc.weight)
    with pytest.raises(ValueError, match="no entry 'ema'"):
        load_checkpoint(fresh, both, key="ema")


def test_unrecognised_layouts() -> None:
    with pytest.raises(ValueError, match="entries: \\['epoch', 'weights'\\]"):
        load_checkpoint(create_model("resnet8"), {"epoch": 1, "weights": [1, 2]})
    with pytest.raises(ValueError, match="not a state_dict"):
        load_checkpoint(create_model("resnet8"), {"model": create_model("resnet8")})


def test_wrong_architecture_lists_keys_and_shapes() -> None:
    source = create_model("resnet8x4").state_dict()
    with pytest.raises(ValueError) as error:
        load_checkpoint(create_model("resnet8"), {"model": source})
    message = str(error.value)
    assert "unexpected keys (6):\n    layer1.0.downsample.0.weight\n" in message
    assert "keys with other shapes (checkpoint vs model) (46):" in message
    assert "\n    conv1.weight (32, 3, 3, 3) vs (16, 3, 3, 3)\n" in message
    assert "... and 26 more" in message
    assert "create_model('resnet8x4')" in message


def test_missing_keys_are_listed_and_strict_false_allows_them() -> None:
    source = create_model("resnet8").state_dict()
    target = create_model("resnet14")
    with pytest.raises(ValueError, match=r"missing keys \(30\):\n    layer1\.1\.conv1\.weight"):
        load_checkpoint(target, source)
    result = load_checkpoint(target, source, strict=False)
    assert "layer1.1.conv1.weight" in result.missing_keys
    assert torch.equal(target.conv1.weight, source["conv1.weight"])


def test_class_count_mismatch_names_both_numbers() -> None:
    source = create_model("wrn_16_1", num_classes=100).state_dict()
    with pytest.raises(ValueError, match="checkpoint is for 100 classes but the model has 10"):
        load_checkpoint(create_model("wrn_16_1", num_classes=10), source)
    with pytest.raises(ValueError, match="num_classes=100"):
        load_checkpoint(create_model("wrn_16_1", num_classes=10), source, strict=False)


def test_class_count_mismatch_on_a_torchvision_model() -> None:
    import torchvision

    source = torchvision.models.resnet18(num_classes=100).state_dict()
    with pytest.raises(ValueError, match="100 classes but the model has 10"):
        load_checkpoint(torchvision.models.resnet18(num_classes=10), source)


def test_channel_mismatch_names_in_channels() -> None:
    source = create_model("resnet8").state_dict()
    with pytest.raises(ValueError, match="takes 3-channel images but the model takes 1"):
        load_checkpoint(create_model("resnet8", in_channels=1), source)


def test_files_with_arbitrary_objects_are_refused(tmp_path) -> None:
    path = tmp_path / "unsafe.pth"
    torch.save({"model": {}, "extra": Opaque()}, path)
    with pytest.raises(ValueError, match="weights_only=False"):
        load_checkpoint(create_model("resnet8"), path)


def test_loads_into_compiled_models(trained: nn.Module) -> None:
    compiled = torch.compile(create_model("resnet8"), backend="eager")
    load_checkpoint(compiled, {"model": trained.state_dict()})
    assert torch.equal(compiled._orig_mod.fc.weight, trained.fc.weight)
