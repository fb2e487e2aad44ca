"""Epoch-counted method options (warm-ups, initialisation phases) against the schedule."""

from __future__ import annotations

import pytest

from graphkd.distill import METHODS, list_methods
from graphkd.engine import Trainer, load_config
from graphkd.engine.run_checks import (
    epoch_options_note,
    scaled_epoch_options,
    stage_epoch_options,
)

from .conftest import tiny_overrides

#: Methods whose in-schedule epoch defaults are the reference's, for its schedule length.
WRITTEN_FOR = {"dkd": 240, "reviewkd": 240, "ctkd": 240, "fsp": 270, "ab": 270}


def test_the_marked_methods_and_their_reference_schedules():
    marked = {
        name: METHODS.get(name).reference_epochs
        for name in list_methods()
        if hasattr(METHODS.get(name), "reference_epochs")
    }
    assert marked == WRITTEN_FOR
    for name in marked:  # each has an epoch option to scale
        assert stage_epoch_options(name, {})


@pytest.mark.parametrize(
    "method, epochs, expected",
    [
        ("dkd", 15, {"warmup_epochs": 1}),  # 20 * 15 / 240 = 1.25
        ("dkd", 120, {"warmup_epochs": 10}),
        ("reviewkd", 60, {"warmup_epochs": 5}),
        ("ctkd", 15, {"curriculum_epochs": 1}),  # 0.625 rounds to 1, never to 0
        ("fsp", 15, {"init_epochs": 2}),  # 30 * 15 / 270 = 1.67
        ("ab", 54, {"init_epochs": 6}),
        ("dkd", 240, {}),  # the reference's own schedule
        ("mhgd", 15, {}),  # its attention stage is not part of the student's schedule
        ("kd", 15, {}),
        ("ce", 15, {}),
    ],
)
def test_defaults_take_the_references_fraction_of_the_schedule(method, epochs, expected):
    assert scaled_epoch_options(method, {}, epochs) == expected


def test_given_options_are_kept_and_a_zero_stays_zero():
    assert scaled_epoch_options("dkd", {"warmup_epochs": 7}, 15) == {}
    assert scaled_epoch_options("ab", {"margin": 2.0}, 27) == {"init_epochs": 3}


def test_a_phase_that_outlasts_the_schedule_is_named_with_its_fix():
    note = epoch_options_note("fsp", {}, 15)
    assert "fsp's init_epochs=30 lasts the whole 15-epoch schedule" in note
    assert "reference's 270 epochs" in note and "--set method.options.init_epochs=2" in note
    assert epoch_options_note("fsp", {"init_epochs": 2}, 15) is None
    assert epoch_options_note("dkd", {}, 240) is None
    assert epoch_options_note("mhgd", {}, 15) is None and epoch_options_note("ce", {}, 1) is None


def test_the_trainer_says_so_before_training(tmp_path):
    lines = []
    root = tmp_path
    config = load_config("fashion_mnist", tiny_overrides(str(root)))
    Trainer(progress=False, log=lines.append).train_teacher(config)
    config = load_config(
        "fashion_mnist",
        [*tiny_overrides(str(root)), f"model.teacher_checkpoint={root}/teacher/model.pt"],
    )
    Trainer(progress=False, log=lines.append).distill(config, "dkd")
    warnings = [line for line in lines if "warmup_epochs=20 lasts the whole 1-epoch" in line]
    assert len(warnings) == 1 and "--set method.options.warmup_epochs=1" in warnings[0]


def test_a_method_measured_below_its_baseline_on_short_schedules_says_so(tmp_path):
    lines = []
    root = tmp_path
    Trainer(progress=False, log=lines.append).train_teacher(
        load_config("fashion_mnist", tiny_overrides(str(root)))
    )
    overrides = [*tiny_overrides(str(root)), f"model.teacher_checkpoint={root}/teacher/model.pt"]
    for method in ("hkd", "hkd_kd"):
        config = load_config("fashion_mnist", [*overrides, "method.options.nce_k=16"])
        Trainer(progress=False, log=lines.append).distill(config, method)
    notes = [line for line in lines if line.startswith("note: hkd (the contrastive terms")]
    assert len(notes) == 1 and "use hkd_kd" in notes[0] and "1.24 points above it at 60" in notes[0]
