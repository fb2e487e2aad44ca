"""Every registered method trains a student through the Trainer end to end.

The trainer gives each factory what it declares (dataset size, labels, widths, channels),
feeds two views to methods that ask for them, runs distiller-only stages first and calls
``after_step``; a resumed run continues inside or after a distiller stage.
"""

from __future__ import annotations

import math

import pytest

from graphkd import list_methods
from graphkd.engine import Trainer, load_config

from .conftest import tiny_overrides

#: Options that keep each method tiny on 64 images.
SMALL = {
    "hkd": ["method.options.nce_k=16"],
    "hkd_kd": ["method.options.nce_k=16"],
    "crd": ["method.options.nce_k=16"],
    "mhgd": ["method.options.stage1_epochs=1"],
}


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("methods")
    config = load_config("fashion_mnist", [*tiny_overrides(str(output)), "data.limit_batches=2"])
    Trainer(log=lambda line: None).train_teacher(config)
    return output


@pytest.mark.parametrize("name", list_methods())
def test_method_trains_through_the_trainer(teacher_run, name):
    overrides = [
        *tiny_overrides(str(teacher_run)),
        "data.limit_batches=2",
        f"method.name={name}",
        *SMALL.get(name, []),
    ]
    result = Trainer(log=lambda line: None).distill(load_config("fashion_mnist", overrides))
    assert math.isfinite(result.test_acc)
    assert result.model_path.is_file()


def test_staged_method_resumes_from_the_end_of_its_first_stage(teacher_run, tmp_path):
    import torch

    def run(output, resume=False):
        config = load_config(
            "fashion_mnist",
            [
                *tiny_overrides(str(teacher_run), 1),
                "data.limit_batches=1",
                "method.name=mhgd",
                "method.options.stage1_epochs=2",
                f"model.teacher_checkpoint={teacher_run}/teacher/model.pt",
                f"run.output={output}",
            ],
        )
        return Trainer(log=lambda line: None).distill(config, resume=resume)

    straight = run(tmp_path / "straight")
    first = torch.load(straight.model_path, weights_only=True)["model"]
    assert straight.epochs == 3
    assert (straight.output / "metrics_attention.csv").read_text().count("\n") == 3
    # previous.pt was written after epoch 2, the last epoch of the attention stage
    resumed = run(tmp_path / "straight", resume=str(straight.output / "previous.pt"))
    second = torch.load(resumed.model_path, weights_only=True)["model"]
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize("views", ["[]", "[weak, strong]"])
@pytest.mark.parametrize("mode", ["per_teacher", "average_logits"])
@pytest.mark.parametrize("name", list_methods())
def test_teacher_ensembles_work_with_every_method(teacher_run, tmp_path, name, mode, views):
    """Shared views (the default) and each teacher with its own augmentation."""
    weights = f"{teacher_run}/teacher/model.pt"
    overrides = [
        *tiny_overrides(str(tmp_path)),
        "data.limit_batches=1",
        f"method.name={name}",
        f"method.ensemble={mode}",
        "model.teachers=[resnet8, resnet8]",
        f"model.teacher_checkpoints=[{weights}, {weights}]",
        f"model.teacher_augmentations={views}",
        *SMALL.get(name, []),
    ]
    result = Trainer(log=lambda line: None).distill(load_config("fashion_mnist", overrides))
    assert math.isfinite(result.test_acc)
    header = (result.output / "metrics.csv").read_text().splitlines()[0]
    assert ("train_teacher1" in header) == (mode == "per_teacher")


def test_ensemble_needs_one_checkpoint_per_teacher(teacher_run, tmp_path):
    overrides = [
        *tiny_overrides(str(tmp_path)),
        "method.name=kd",
        "model.teachers=[resnet8, resnet8]",
        f"model.teacher_checkpoints=[{teacher_run}/teacher/model.pt]",
    ]
    with pytest.raises(ValueError, match="one per teacher"):
        Trainer(log=lambda line: None).distill(load_config("fashion_mnist", overrides))


@pytest.mark.parametrize("clipping", [True, False])
def test_mhgd_weighting_counts_epochs_from_the_start_of_stage_one(
    teacher_run, tmp_path, monkeypatch, clipping
):
    """The clipping's sigmoid(e - e1) sees e counted from the start of the attention stage,
    as the reference counts it: with 2 attention epochs the transfer epochs are 2 and 3."""
    from graphkd.distill.presets.mhgd import MHGDDistiller

    seen = []
    combine = MHGDDistiller.combine_gradients

    def recording(self, step):
        seen.append((self.gradient_clipping, step.epoch))
        return combine(self, step)

    monkeypatch.setattr(MHGDDistiller, "combine_gradients", recording)
    overrides = [
        *tiny_overrides(str(tmp_path), 2),
        "data.limit_batches=1",
        "method.name=mhgd",
        "method.options.stage1_epochs=2",
        f"method.options.gradient_clipping={str(clipping).lower()}",
        f"model.teacher_checkpoint={teacher_run}/teacher/model.pt",
    ]
    result = Trainer(log=lambda line: None).distill(load_config("fashion_mnist", overrides))
    assert math.isfinite(result.test_acc)
    assert seen == [(clipping, 2), (clipping, 3)]
