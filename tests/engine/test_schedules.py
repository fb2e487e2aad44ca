"""optim.optimizer and optim.schedule: AdamW, the cosine schedule with its warm-up
(against a directly computed reference sequence, and timm's scheduler stepped as Li et
al.'s trainer steps it), resuming it, and the errors that name the key and the fix."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from graphkd.engine import Trainer, load_config, read_training_checkpoint
from graphkd.engine.config import apply_overrides, milestones_beyond_epochs

from .conftest import tiny_overrides

EPOCHS = 5
COSINE = [
    "optim.optimizer=adamw",
    "optim.schedule=cosine",
    "optim.lr=0.001",
    "optim.weight_decay=0.05",
    "optim.warmup_epochs=2",
    "optim.warmup_lr=0.0001",
    "optim.min_lr=0.00002",
    "data.limit_batches=1",
]


def _quiet() -> Trainer:
    return Trainer(progress=False, log=lambda line: None)


def _reference(epochs, warmup, peak, start, floor):
    """The rate of each epoch, written out: linear from ``start`` over ``warmup`` epochs,
    then ``floor + (peak - floor) (1 + cos(pi e / epochs)) / 2``."""
    rates = []
    for e in range(epochs):
        if e < warmup:
            rates.append(start + (peak - start) * e / warmup)
        else:
            rates.append(floor + (peak - floor) * (1 + math.cos(math.pi * e / epochs)) / 2)
    return rates


def _logged_rates(run):
    return [float(row["lr"]) for row in csv.DictReader(open(run / "metrics.csv"))]


@pytest.fixture(scope="module")
def cosine_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cosine")
    config = load_config("fashion_mnist", [*tiny_overrides(str(root), EPOCHS), *COSINE])
    _quiet().train_teacher(config)
    return root / "teacher", config


def test_the_cosine_schedule_follows_the_reference_per_epoch(cosine_run):
    run, _ = cosine_run
    expected = _reference(EPOCHS, 2, 1e-3, 1e-4, 2e-5)
    assert _logged_rates(run) == pytest.approx(expected, rel=1e-9)
    state = read_training_checkpoint(run / "last.pt")
    assert state["optimizer"]["param_groups"][0]["weight_decay"] == 0.05
    assert "exp_avg_sq" in next(iter(state["optimizer"]["state"].values()))  # AdamW's


def test_the_cosine_schedule_is_timms_stepped_once_per_epoch(cosine_run):
    """Li et al.'s trainer calls ``scheduler.step(epoch + 1)`` after each epoch."""
    timm_scheduler = pytest.importorskip("timm.scheduler")
    run, _ = cosine_run
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = timm_scheduler.CosineLRScheduler(
        optimizer, t_initial=EPOCHS, lr_min=2e-5, warmup_t=2, warmup_lr_init=1e-4
    )
    rates = []
    for epoch in range(EPOCHS):
        rates.append(optimizer.param_groups[0]["lr"])
        scheduler.step(epoch + 1)
    assert _logged_rates(run) == pytest.approx(rates, rel=1e-9)


def test_a_resumed_cosine_run_ends_where_an_uninterrupted_one_does(cosine_run, tmp_path):
    run, config = cosine_run
    resumed = apply_overrides(config, [f"run.output={tmp_path}"])
    _quiet().train_teacher(resumed, resume=str(run / "previous.pt"))  # after epoch 4
    straight = read_training_checkpoint(run / "last.pt")
    again = read_training_checkpoint(tmp_path / "teacher" / "last.pt")
    assert again["scheduler"]["last_epoch"] == straight["scheduler"]["last_epoch"] == EPOCHS
    assert _logged_rates(tmp_path / "teacher")[-1] == pytest.approx(_logged_rates(run)[-1])
    for key, value in straight["model"].items():
        assert torch.equal(value, again["model"][key]), key


def test_the_defaults_keep_sgd_and_the_step_schedule(tmp_path):
    config = load_config("fashion_mnist", tiny_overrides(str(tmp_path), 2))
    assert (config.optim.optimizer, config.optim.schedule) == ("sgd", "step")
    _quiet().train_teacher(apply_overrides(config, ["data.limit_batches=1"]))
    state = read_training_checkpoint(tmp_path / "teacher" / "last.pt")
    assert state["scheduler"]["milestones"] == {1: 1}
    assert _logged_rates(tmp_path / "teacher") == pytest.approx([0.05, 0.005])
    assert "momentum_buffer" in next(iter(state["optimizer"]["state"].values()))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["optim.optimizer=adam"], "optim.optimizer must be one of sgd, adamw, got 'adam'"),
        (["optim.schedule=cos"], "optim.schedule must be one of step, cosine, got 'cos'"),
        (
            ["optim.optimizer=adamw", "optim.nesterov=true"],
            "optim.nesterov is SGD's; optim.optimizer is adamw: --set optim.nesterov=false",
        ),
        (
            ["optim.warmup_epochs=5"],
            "optim.warmup_epochs=5: warm-up and minimum rates apply to optim.schedule=cosine",
        ),
        (
            ["optim.schedule=cosine", "optim.min_lr=1.0"],
            r"optim.min_lr must be in \[0, optim.lr\] = \[0, 0.05\], got 1.0",
        ),
        (
            ["optim.schedule=cosine", "optim.warmup_lr=-1"],
            r"optim.warmup_lr must be in \[0, optim.lr\]",
        ),
        (
            ["optim.schedule=cosine", "optim.warmup_epochs=5"],
            r"optim.warmup_epochs must be in \[0, optim.epochs\) = \[0, 5\), got 5",
        ),
        (["optim.schedule=cosine", "optim.lr=0"], "scales a positive optim.lr, got 0"),
    ],
)
def test_wrong_optimiser_settings_name_the_key_and_the_fix(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config("fashion_mnist", overrides)


def test_milestones_beyond_the_epochs_are_noted_for_the_step_schedule_only():
    step = load_config("fashion_mnist", ["optim.epochs=3"]).optim
    assert "optim.milestones" in milestones_beyond_epochs(step)
    cosine = load_config("fashion_mnist", ["optim.epochs=3", "optim.schedule=cosine"]).optim
    assert milestones_beyond_epochs(cosine) is None


def test_decay_all_parameters_false_spares_biases_norms_tokens_and_position_embeddings():
    timm = pytest.importorskip("timm")
    from graphkd.engine.optimizers import parameter_groups

    vit = timm.create_model("deit_tiny_patch16_224", img_size=32, patch_size=8, depth=1)
    named = list(vit.named_parameters())
    decayed, spared = parameter_groups(named, 0.05, decay_all=False)
    assert (decayed["weight_decay"], spared["weight_decay"]) == (0.05, 0.0)
    names = {id(p): n for n, p in named}
    spared_names = {names[id(p)] for p in spared["params"]}
    assert {"cls_token", "pos_embed", "blocks.0.norm1.weight", "head.bias"} <= spared_names
    assert {names[id(p)] for p in decayed["params"]} == {
        n for n, p in named if p.ndim > 1 and n not in ("cls_token", "pos_embed")
    }
    (everything,) = parameter_groups(named, 0.05, decay_all=True)
    assert len(everything["params"]) == len(named)


def test_the_optimiser_holds_the_two_groups(tmp_path):
    overrides = [*tiny_overrides(str(tmp_path)), "data.limit_batches=1"]
    config = load_config("fashion_mnist", [*overrides, "optim.decay_all_parameters=false"])
    _quiet().train_teacher(config)
    groups = read_training_checkpoint(tmp_path / "teacher" / "last.pt")["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert all(len(g["params"]) for g in groups)
