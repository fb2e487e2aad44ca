"""A diverging run stops with one clear line: the epoch, the step, the term and a fix."""

from __future__ import annotations

import pytest

from graphkd.distill.presets.mhgd import MHGDDistiller
from graphkd.engine import Trainer, load_config

from .conftest import tiny_overrides


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("epochs")
    config = load_config("fashion_mnist", [*tiny_overrides(str(output)), "data.limit_batches=1"])
    Trainer(log=lambda line: None).train_teacher(config)
    return output


def distill(teacher_run, tmp_path, *options):
    overrides = [
        *tiny_overrides(str(tmp_path)),
        "data.limit_batches=2",
        "method.name=mhgd",
        "method.options.stage1_epochs=1",
        f"model.teacher_checkpoint={teacher_run}/teacher/model.pt",
        *options,
    ]
    return Trainer(log=lambda line: None).distill(load_config("fashion_mnist", overrides))


def diverging_after(calls, method, good_calls):
    """Wrap ``method`` so that every output after ``good_calls`` calls is NaN."""

    def wrapped(self, *args):
        out = method(self, *args)
        calls.append(1)
        if len(calls) <= good_calls:
            return out
        return {key: value * float("nan") for key, value in out.items()}

    return wrapped


def test_a_nan_transfer_term_names_epoch_step_term_and_fix(teacher_run, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(MHGDDistiller, "forward", diverging_after(calls, MHGDDistiller.forward, 1))
    # epoch 1 is the attention stage (1 epoch), epoch 2 the first transfer epoch
    message = (
        r"^epoch 2, step 2: loss term 'attention' contains NaN or Inf values \(1 of 1 "
        r"entries\); the run diverged: lower optim.lr or the method's weights"
    )
    with pytest.raises(ValueError, match=message):
        distill(teacher_run, tmp_path)


def test_a_nan_stage_loss_names_its_term(teacher_run, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        MHGDDistiller, "stage_loss", diverging_after(calls, MHGDDistiller.stage_loss, 0)
    )
    with pytest.raises(ValueError, match=r"^epoch 1, step 1: loss term 'estimation' contains"):
        distill(teacher_run, tmp_path)


def test_a_diverging_learning_rate_stops_with_the_epoch_and_step(teacher_run, tmp_path):
    with pytest.raises(ValueError, match=r"^epoch \d+, step \d+: .*NaN or Inf"):
        distill(teacher_run, tmp_path, "optim.lr=1000000000000.0", "optim.epochs=3")


def test_the_bar_shows_the_epochs_final_running_loss():
    """8 steps: the bar's loss is refreshed at step 0 and at the last step, so the epoch
    ends showing its mean, not step 0's; without a bar nothing is read."""
    import torch

    from graphkd.engine.epochs import _show_running_loss

    class Bar:
        disable = False
        shown: list = []

        def set_postfix(self, **values):
            self.shown.append(values["loss"])

    bar, total, losses = Bar(), 8, torch.arange(1.0, 9.0)
    for step in range(total):
        _show_running_loss(bar, losses[: step + 1].sum(), step, total)
    assert bar.shown == ["1.0000", "4.5000"]
    off = Bar()
    off.disable, off.shown = True, []
    _show_running_loss(off, losses.sum(), 7, total)
    assert off.shown == []


def test_a_method_that_combines_its_gradients_refuses_accumulation(teacher_run, tmp_path):
    with pytest.raises(ValueError, match=r"combines its gradients itself.*optim.accumulate=1"):
        distill(teacher_run, tmp_path, "optim.accumulate=2", "data.batch_size=8")
