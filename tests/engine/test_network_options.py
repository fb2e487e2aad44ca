"""model.network_options: constructor options of a network, used, recorded and checked."""

from __future__ import annotations

import pytest
import torch

from graphkd.engine import Trainer, load_config, read_training_checkpoint
from graphkd.engine.config import apply_overrides
from graphkd.models import create_network, input_resize

from .conftest import tiny_overrides

HALF = {"widths": [8, 8, 16, 32]}


def _parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_a_half_width_resnet8_has_a_quarter_of_the_parameters():
    full = create_network("resnet8", 10, 1, 28)
    half = create_network("resnet8", 10, 1, 28, options=HALF)
    assert _parameters(full) == 77754 and _parameters(half) == 19810
    assert half(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_torchvision_networks_take_their_builders_options():
    plain = create_network("torchvision:mobilenet_v2", 10)
    narrow = create_network("torchvision:mobilenet_v2", 10, options={"width_mult": 0.5})
    assert _parameters(narrow) < _parameters(plain)


def test_an_option_the_constructor_does_not_take_is_named():
    with pytest.raises(ValueError, match=r"resnet8 does not take the options \{'width': 2\}"):
        create_network("resnet8", 10, 1, 28, options={"width": 2})


def test_the_cli_form_and_a_value_that_is_not_a_mapping():
    config = load_config(
        "fashion_mnist", ["model.network_options.resnet8={widths: [8, 8, 16, 32]}"]
    )
    assert config.model.network_options == {"resnet8": HALF}
    with pytest.raises(ValueError, match="model.network_options must be a mapping"):
        apply_overrides(config, ["model.network_options=3"])


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("options")
    Trainer(progress=False, log=lambda line: None).train_teacher(
        load_config("fashion_mnist", tiny_overrides(str(root)))
    )
    return root


def test_a_student_with_options_is_trained_recorded_and_evaluated_as_built(teacher, tmp_path):
    overrides = [
        *tiny_overrides(str(tmp_path)),
        "model.student=resnet14",
        "model.network_options.resnet14={widths: [8, 8, 16, 32]}",
        f"model.teacher_checkpoint={teacher}/teacher/model.pt",
    ]
    result = Trainer(progress=False, log=lambda line: None).distill(
        load_config("fashion_mnist", overrides), "kd"
    )
    saved = torch.load(tmp_path / "kd" / "model.pt", weights_only=True)
    assert saved["arch"] == "resnet14" and saved["options"] == HALF
    assert saved["model"]["fc.weight"].shape == (10, 32)  # the half-width network
    state = read_training_checkpoint(tmp_path / "kd" / "last.pt")
    assert state["config"]["model"]["network_options"] == {"resnet14": HALF}
    quiet = Trainer(progress=False, log=lambda line: None)
    accuracy = quiet.evaluate(None, tmp_path / "kd" / "model.pt", subset=64)
    assert accuracy == pytest.approx(result.test_acc)


def test_a_teacher_checkpoint_built_with_other_options_is_refused_with_the_fix(teacher, tmp_path):
    overrides = [
        *tiny_overrides(str(tmp_path)),
        "model.network_options.resnet8={widths: [8, 8, 16, 32]}",
        f"model.teacher_checkpoint={teacher}/teacher/model.pt",
    ]
    with pytest.raises(ValueError) as error:
        Trainer(progress=False, log=lambda line: None).distill(
            load_config("fashion_mnist", overrides), "kd"
        )
    message = str(error.value)
    assert "holds a resnet8 built with the options {}" in message
    assert "gives it {'widths': [8, 8, 16, 32]}" in message
    assert "--set 'model.network_options.resnet8={}'" in message


def test_the_teacher_sees_its_input_size_while_the_student_sees_the_data(
    teacher, tmp_path, monkeypatch
):
    """A teacher trained on 28-pixel images without options, given input_size 16: its
    weights load (the input size is not a constructor option), and its first convolution
    sees 16-pixel batches while the student's sees the 28-pixel ones."""
    import graphkd.engine.run_models as run_models

    seen = {}
    real_tap = run_models.tap

    def recording_tap(model, **kwargs):
        conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        key = "resized" if input_resize(model) is not None else "plain"
        conv.register_forward_pre_hook(
            lambda m, args: seen.setdefault(key, set()).add(args[0].shape[-1])
        )
        return real_tap(model, **kwargs)

    monkeypatch.setattr(run_models, "tap", recording_tap)
    overrides = [
        *tiny_overrides(str(tmp_path)),
        "data.limit_batches=1",
        "model.student=resnet14",
        "model.network_options.resnet8={input_size: 16, input_interpolation: bilinear}",
        f"model.teacher_checkpoint={teacher}/teacher/model.pt",
    ]
    Trainer(progress=False, log=lambda line: None).distill(
        load_config("fashion_mnist", overrides), "kd"
    )
    assert seen == {"resized": {16}, "plain": {28}}


def test_an_input_size_is_recorded_and_rebuilt_by_evaluate(tmp_path):
    overrides = [
        *tiny_overrides(str(tmp_path)),
        "model.network_options.resnet8={input_size: 16}",
    ]
    result = Trainer(progress=False, log=lambda line: None).train_teacher(
        load_config("fashion_mnist", overrides)
    )
    model_pt = tmp_path / "teacher" / "model.pt"
    assert torch.load(model_pt, weights_only=True)["options"] == {"input_size": 16}
    quiet = Trainer(progress=False, log=lambda line: None)
    assert quiet.evaluate(None, model_pt, subset=64) == pytest.approx(result.test_acc)
    plain = create_network("resnet8", 10, 1, 28)
    plain.load_state_dict(torch.load(model_pt, weights_only=True)["model"])  # same weights


def test_an_invalid_input_size_is_refused_before_the_run(tmp_path):
    overrides = [*tiny_overrides(str(tmp_path)), "model.network_options.resnet8={input_size: -1}"]
    with pytest.raises(ValueError, match="model.network_options.resnet8.input_size must be"):
        Trainer(progress=False, log=lambda line: None).train_teacher(
            load_config("fashion_mnist", overrides)
        )
    assert not (tmp_path / "teacher").exists()
