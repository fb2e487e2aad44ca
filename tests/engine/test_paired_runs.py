"""The paired design: for one seed every method starts from the same student weights and
sees the same batches with the same student views; ``data.on_device`` keeps the batches."""

from __future__ import annotations

import pytest
import torch

from graphkd.engine import Trainer, epochs, load_config
from graphkd.engine import run_models as trainer

from .conftest import tiny_overrides


class Recorder:
    """Wrap ``train_loader`` and ``_create_distiller`` to keep what a run saw."""

    def __init__(self, monkeypatch):
        self.student, self.views, self.indices = None, [], []
        loader, create = epochs.train_loader, trainer._create_distiller

        def recording_loader(*args, **kwargs):
            return _Recording(loader(*args, **kwargs), self)

        def recording_create(method, data, train_set, student, teachers, device):
            self.student = {k: v.clone() for k, v in student.model.state_dict().items()}
            return create(method, data, train_set, student, teachers, device)

        monkeypatch.setattr(epochs, "train_loader", recording_loader)
        monkeypatch.setattr(trainer, "_create_distiller", recording_create)


class _Recording:
    def __init__(self, loader, recorder):
        self.loader, self.recorder = loader, recorder

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for images, labels, index in self.loader:
            real = images[0] if isinstance(images, (list, tuple)) else images
            self.recorder.views.append(real.clone())
            self.recorder.indices.append(torch.as_tensor(index).clone())
            yield images, labels, index


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """What four tiny runs saw: ce and vrm (seed 0), ce (seed 1), vrm with data.on_device."""
    root = tmp_path_factory.mktemp("paired")
    quiet = Trainer(progress=False, log=lambda line: None)
    quiet.train_teacher(load_config("fashion_mnist", tiny_overrides(str(root))))
    runs = {
        "ce": ("ce",),
        "vrm": ("vrm",),
        "ce seed 1": ("ce", "run.seed=1"),
        "vrm on device": ("vrm", "data.on_device=true"),
    }
    seen = {}
    for k, (name, (method, *extra)) in enumerate(runs.items()):
        overrides = [*tiny_overrides(str(root / f"run{k}")), *extra, "data.limit_batches=2"]
        config = load_config("fashion_mnist", overrides)
        config.model.teacher_checkpoint = str(root / "teacher" / "model.pt")
        with pytest.MonkeyPatch.context() as patch:
            seen[name] = Recorder(patch)
            quiet.distill(config, method)
    return root, seen


def test_methods_share_the_initial_student_batches_and_views(records):
    # ce draws nothing at construction and has no virtual view; vrm builds a learned
    # adaptor and draws a second, RandAugment view of every image
    _, seen = records
    ce, vrm, other = seen["ce"], seen["vrm"], seen["ce seed 1"]
    assert ce.student.keys() == vrm.student.keys()
    assert all(torch.equal(ce.student[k], vrm.student[k]) for k in ce.student)
    assert len(ce.indices) == len(vrm.indices) == 2
    assert all(torch.equal(a, b) for a, b in zip(ce.indices, vrm.indices))
    assert all(torch.equal(a, b) for a, b in zip(ce.views, vrm.views))
    assert not torch.equal(other.indices[0], ce.indices[0])
    assert not all(torch.equal(other.student[k], ce.student[k]) for k in ce.student)


def test_on_device_batches_follow_the_same_order(records):
    _, seen = records
    per_image, resident = seen["vrm"], seen["vrm on device"]
    assert all(torch.equal(a, b) for a, b in zip(per_image.indices, resident.indices))
    assert resident.views[0].shape == per_image.views[0].shape
    assert torch.isfinite(resident.views[0]).all()


def test_on_device_refuses_what_it_does_not_support(records):
    root, _ = records
    overrides = ["data.on_device=true", "data.augmentation=weak"]
    config = load_config("fashion_mnist", [*tiny_overrides(str(root / "refused")), *overrides])
    config.model.teacher_checkpoint = str(root / "teacher" / "model.pt")
    with pytest.raises(ValueError, match="data.on_device supports"):
        Trainer(progress=False, log=lambda line: None).distill(config, "kd")
