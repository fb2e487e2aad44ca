"""What each network of a run sees: the student's view, a virtual view, teachers' own views."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate
from torchvision.transforms import Compose

from graphkd.data import (
    EnsembleSample,
    EnsembleViews,
    TwoViews,
    dataset_info,
    rand_augment,
    weak_augmentation,
)
from graphkd.engine import Trainer, load_config
from graphkd.engine import epochs as epochs_module
from graphkd.engine.training_views import split_views, teacher_inputs, training_transform

from .conftest import tiny_overrides

INFO = dataset_info("fashion_mnist")


def config(*overrides):
    return load_config("fashion_mnist", list(overrides))


def image():
    return Image.fromarray((torch.arange(28 * 28) % 251).reshape(28, 28).byte().numpy())


def same_draws(first, second, seeds=range(3)):
    """Whether two transforms give equal outputs under the same seeds."""
    for seed in seeds:
        torch.manual_seed(seed)
        a = first(image())
        torch.manual_seed(seed)
        if not torch.equal(a, second(image())):
            return False
    return True


def test_by_default_the_student_sees_the_standard_view_and_teachers_share_it():
    transform, own_view = training_transform(config(), INFO, 2, virtual=False)
    assert own_view == [None, None]
    assert same_draws(transform, INFO.train_transform())


@pytest.mark.parametrize("augmentation", ["weak", "strong"])
def test_data_augmentation_sets_the_trained_networks_view(augmentation):
    transform, _ = training_transform(
        config(f"data.augmentation={augmentation}"), INFO, 0, virtual=False
    )
    assert same_draws(transform, INFO.train_transform(augmentation))


def test_teacher_augmentations_give_each_teacher_its_own_draw():
    transform, own_view = training_transform(
        config("model.teacher_augmentations=[strong, student, weak]"), INFO, 3, virtual=True
    )
    assert isinstance(transform, EnsembleViews) and own_view == [0, None, 1]
    assert isinstance(transform.student, TwoViews)
    virtual = INFO.transform(Compose([weak_augmentation(28, 2), rand_augment(n=2)]))
    reference = EnsembleViews(
        TwoViews(INFO.train_transform(), virtual),
        [INFO.train_transform("strong"), INFO.train_transform("weak")],
    )
    for seed in range(3):
        torch.manual_seed(seed)
        ours = transform(image())
        torch.manual_seed(seed)
        expected = reference(image())
        assert all(torch.equal(a, b) for a, b in zip(ours.student, expected.student))
        assert all(torch.equal(a, b) for a, b in zip(ours.teachers, expected.teachers))


def test_a_batch_splits_into_student_virtual_and_teacher_views():
    transform, own_view = training_transform(
        config("model.teacher_augmentations=[student, strong]"), INFO, 2, virtual=True
    )
    batch = default_collate([transform(image()) for _ in range(4)])
    assert isinstance(batch, EnsembleSample)
    real, virtual, own = split_views(batch, torch.device("cpu"))
    assert real.shape == virtual.shape == (4, 1, 28, 28) and len(own) == 1
    inputs = teacher_inputs(real, own, own_view)
    assert inputs[0] is real and inputs[1] is own[0]
    plain, none, no_views = split_views(torch.zeros(4, 1, 28, 28), torch.device("cpu"))
    assert none is None and no_views == [] and teacher_inputs(plain, [], [None]) == [plain]


@pytest.mark.parametrize(
    "overrides, teachers, message",
    [
        (["data.augmentation=medium"], 1, "data.augmentation must be one of"),
        (["model.teacher_augmentations=[strong, hard]"], 2, r"unknown entries \['hard'\]"),
        (["model.teacher_augmentations=[strong]"], 2, "1 entries for 2 teacher"),
    ],
)
def test_bad_view_settings_name_the_key(overrides, teachers, message):
    with pytest.raises(ValueError, match=message):
        training_transform(config(*overrides), INFO, teachers, virtual=False)


@pytest.fixture(scope="module")
def teacher_weights(tmp_path_factory):
    output = tmp_path_factory.mktemp("views")
    overrides = [*tiny_overrides(str(output)), "data.limit_batches=2", "data.augmentation=strong"]
    result = Trainer(log=lambda line: None).train_teacher(config(*overrides))
    assert math.isfinite(result.test_acc)
    assert "augmentation: strong" in (result.output / "config.yaml").read_text()
    return str(result.model_path)


def test_each_teacher_gets_its_batch_in_a_distillation_step(teacher_weights, tmp_path, monkeypatch):
    seen = []
    respond = epochs_module.teacher_responses

    def recording(model, images, virtual):
        seen.append(images)
        return respond(model, images, virtual)

    monkeypatch.setattr(epochs_module, "teacher_responses", recording)
    students = []
    split = epochs_module.split_views

    def recording_split(images, device):
        out = split(images, device)
        students.append(out[0])
        return out

    monkeypatch.setattr(epochs_module, "split_views", recording_split)
    overrides = [
        *tiny_overrides(str(tmp_path)),
        "data.limit_batches=1",
        "method.name=kd",
        "model.teachers=[resnet8, resnet8, resnet8]",
        f"model.teacher_checkpoints=[{teacher_weights}, {teacher_weights}, {teacher_weights}]",
        "model.teacher_augmentations=[student, strong, weak]",
    ]
    Trainer(log=lambda line: None).distill(config(*overrides))
    assert len(students) == 1 and len(seen) == 3
    assert seen[0] is students[0]
    assert not torch.equal(seen[1], students[0]) and not torch.equal(seen[2], students[0])
    assert not torch.equal(seen[1], seen[2])


@pytest.mark.parametrize("one_pass, batches", [(True, [10]), (False, [5, 5]), (None, [5, 5])])
def test_a_frozen_teacher_answers_both_views_with_the_same_responses(one_pass, batches):
    from graphkd.engine.training_views import teacher_responses
    from graphkd.models import create_model, tap

    torch.manual_seed(0)
    teacher = tap(create_model("resnet8", num_classes=10, in_channels=1, input_size=28))
    for module in teacher.modules():  # running statistics that are not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    teacher.eval()
    images, virtual = torch.randn(5, 1, 28, 28), torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        alone, alone_virtual = teacher(images), teacher(virtual)
    calls = []
    teacher.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    with torch.no_grad():
        both = teacher_responses(teacher, images, virtual, one_pass=one_pass)
    assert calls == batches  # CPU tensors: two passes unless one is asked for
    for ours, reference in ((both, alone), (both.virtual, alone_virtual)):
        assert torch.allclose(ours.logits, reference.logits, atol=1e-5)
        assert torch.allclose(ours.embedding, reference.embedding, atol=1e-5)
        assert ours.features.keys() == reference.features.keys()
        assert all(
            torch.allclose(ours.features[k], reference.features[k], atol=1e-5)
            for k in ours.features
        )


def test_a_teacher_in_training_mode_sees_each_view_alone():
    from graphkd.engine.training_views import teacher_responses
    from graphkd.models import create_model, tap

    teacher = tap(create_model("resnet8", num_classes=10, in_channels=1, input_size=28)).train()
    calls = []
    teacher.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    with torch.no_grad():
        teacher_responses(teacher, torch.randn(5, 1, 28, 28), torch.randn(5, 1, 28, 28), True)
    assert calls == [5, 5]
