"""Methods reading pre-activation stage outputs (OFD, AB) through the Trainer: the trainer
taps every network before its activations and gives OFD the teacher's batch norms."""

from __future__ import annotations

import math

import pytest
import torch

from graphkd.distill.presets.ofd import margin_from_batchnorm
from graphkd.engine import Trainer, load_config

from .conftest import tiny_overrides


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("preact")
    config = load_config("fashion_mnist", [*tiny_overrides(str(output)), "data.limit_batches=1"])
    return Trainer(log=lambda line: None).train_teacher(config)


def distil(teacher_run, tmp_path, method, *options, epochs=1):
    overrides = [
        *tiny_overrides(str(tmp_path), epochs),
        "data.limit_batches=1",
        f"model.teacher_checkpoint={teacher_run.model_path}",
        f"method.name={method}",
        *options,
    ]
    return Trainer(log=lambda line: None).distill(load_config("fashion_mnist", overrides))


def test_ofd_margins_come_from_the_teachers_batch_norms_at_pre_activation_taps(
    teacher_run, tmp_path
):
    result = distil(teacher_run, tmp_path, "ofd")
    assert math.isfinite(result.test_acc)
    state = torch.load(result.output / "last.pt", weights_only=True)["distiller"]
    teacher = torch.load(teacher_run.model_path, weights_only=True)["model"]
    for stage in (1, 2, 3):
        margin = state[f"metrics.ofd_layer{stage}_0_merge.margin"]  # resnet8's pre-ReLU taps
        gamma, beta = teacher[f"layer{stage}.0.bn2.weight"], teacher[f"layer{stage}.0.bn2.bias"]
        torch.testing.assert_close(margin, margin_from_batchnorm(gamma, beta))
    assert not torch.allclose(margin, margin_from_batchnorm(torch.ones(64), torch.zeros(64)))


def test_ofd_on_activated_outputs_when_preact_is_off(teacher_run, tmp_path):
    result = distil(teacher_run, tmp_path, "ofd", "method.options.preact=false")
    state = torch.load(result.output / "last.pt", weights_only=True)["distiller"]
    assert "metrics.ofd_layer3.margin" in state


def test_ab_initialises_then_trains_on_cross_entropy(teacher_run, tmp_path):
    result = distil(teacher_run, tmp_path, "ab", "method.options.init_epochs=1", epochs=2)
    assert math.isfinite(result.test_acc) and result.epochs == 2
    rows = (result.output / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    ab = header.index("train_ab")
    assert all(float(row.split(",")[ab]) > 0 for row in rows[1:])
