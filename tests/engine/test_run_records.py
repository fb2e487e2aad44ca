"""Run directories keep their records: refusal without resume/overwrite, checks before
any write, resumes from other runs, stage numbering, TensorBoard, curves and bars."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import List

import pytest

from graphkd.engine import Trainer, load_config, read_training_checkpoint
from graphkd.engine import trainer as trainer_module

from .conftest import tiny_overrides

RECORDS = ("config.yaml", "metrics.csv", "last.pt", "previous.pt", "model.pt")


def _trainer(lines: List[str], progress: bool = False) -> Trainer:
    return Trainer(progress=progress, log=lines.append)


def _config(output: Path, *extra: str, epochs: int = 1):
    return load_config(
        "fashion_mnist", [*tiny_overrides(str(output), epochs), "data.limit_batches=1", *extra]
    )


def _snapshot(run: Path) -> dict:
    return {name: (run / name).read_bytes() for name in RECORDS if (run / name).is_file()}


def _epochs(path: Path) -> List[str]:
    return [row["epoch"] for row in csv.DictReader(open(path))]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A two-epoch teacher run (so it has last.pt and previous.pt)."""
    output = tmp_path_factory.mktemp("records")
    lines: List[str] = []
    _trainer(lines).train_teacher(_config(output, epochs=2))
    assert any(line.startswith("data: fashion_mnist training split from") for line in lines)
    return output


def test_a_run_directory_is_kept_until_an_overwrite_finishes_an_epoch(
    teacher, tmp_path, monkeypatch
):
    output = tmp_path / "exp"
    lines: List[str] = []
    _trainer(lines).train_teacher(_config(output, epochs=2))
    run = output / "teacher"
    before = _snapshot(run)
    assert set(before) == set(RECORDS)
    with pytest.raises(ValueError, match="already holds a run .*--resume.*--overwrite"):
        _trainer(lines).train_teacher(_config(output, "optim.lr=0.2"))
    with pytest.raises(ValueError, match="give one of them, not both"):
        _trainer(lines).train_teacher(_config(output), resume=True, overwrite=True)
    assert _snapshot(run) == before

    def fails(*args, **kwargs):
        raise RuntimeError("the first step failed")

    monkeypatch.setattr(trainer_module, "train_epoch", fails)
    with pytest.raises(RuntimeError, match="first step failed"):
        _trainer(lines).train_teacher(_config(output, "optim.lr=0.2"), overwrite=True)
    assert _snapshot(run) == before  # config.yaml, metrics.csv and the checkpoints kept
    monkeypatch.undo()

    _trainer(lines).train_teacher(_config(output, "optim.lr=0.2"), overwrite=True)
    assert "lr: 0.2" in (run / "config.yaml").read_text()
    assert _epochs(run / "metrics.csv") == ["1"]
    assert not (run / "previous.pt").exists()  # the old run's checkpoints are gone


def test_resuming_from_another_runs_checkpoint(teacher, tmp_path):
    checkpoint = teacher / "teacher" / "last.pt"
    saved = read_training_checkpoint(checkpoint)
    lines: List[str] = []
    done = _trainer(lines).train_teacher(_config(tmp_path, epochs=2), resume=str(checkpoint))
    assert f"resumed from {checkpoint} after epoch 2; nothing left to train" in "\n".join(lines)
    assert not any("no checkpoint" in line for line in lines)
    assert done.test_acc == pytest.approx(saved["test_acc"]) and done.model_path.is_file()
    lines.clear()
    more = _trainer(lines).train_teacher(
        _config(tmp_path, epochs=3), resume=str(checkpoint), overwrite=False
    )
    assert "after epoch 2; 1 of 3 epochs to go" in "\n".join(lines)
    assert _epochs(more.metrics) == ["3"] and more.epochs == 3


def test_a_checkpoint_of_another_method_or_model_is_refused(teacher, tmp_path):
    weights = f"model.teacher_checkpoint={teacher / 'teacher' / 'model.pt'}"
    lines: List[str] = []
    kd = _trainer(lines).distill(_config(tmp_path / "a", weights), "kd")
    config = _config(tmp_path / "b", weights, epochs=2)
    with pytest.raises(ValueError, match="is from a 'kd' run, this run is 'rkd'.*allow-method"):
        _trainer(lines).distill(config, "rkd", resume=str(kd.checkpoint))
    other = _config(tmp_path / "b", weights, "model.student=resnet20", epochs=2)
    with pytest.raises(ValueError, match="holds a resnet8.*--set model.student=resnet8"):
        _trainer(lines).distill(other, "kd", resume=str(kd.checkpoint))
    assert not (tmp_path / "b").exists()
    result = _trainer(lines).distill(
        config, "rkd", resume=str(kd.checkpoint), allow_method_change=True
    )
    assert _epochs(result.metrics) == ["2"]


def test_a_teacher_saved_for_another_architecture_names_the_setting(teacher, tmp_path):
    path = teacher / "teacher" / "model.pt"
    config = _config(tmp_path, f"model.teacher_checkpoint={path}", "model.teacher=resnet20")
    with pytest.raises(ValueError) as error:
        Trainer(log=lambda line: None).distill(config, "kd")
    message = str(error.value)
    assert str(path) in message and "--set model.teacher=resnet8" in message
    assert "\n" not in message and not tmp_path.joinpath("kd").exists()


def test_stages_are_announced_and_numbered_as_in_their_logs(teacher, tmp_path):
    lines: List[str] = []
    config = _config(
        tmp_path,
        f"model.teacher_checkpoint={teacher / 'teacher' / 'model.pt'}",
        "method.name=mhgd",
        "method.options.stage1_epochs=2",
    )
    result = _trainer(lines).distill(config)
    text = "\n".join(lines)
    assert "2 stages, 3 epochs in all: 1. attention: 2 epochs training the distiller" in text
    assert "2. transfer: 1 epoch training the student (optim.epochs; metrics.csv)" in text
    assert "(method.options.stage1_epochs; metrics_attention.csv)" in text
    for label in ("stage 1/2 attention epoch 1/2", "stage 1/2 attention epoch 2/2"):
        assert f"[mhgd] {label} loss" in text
    assert "[mhgd] stage 2/2 transfer epoch 1/1 loss" in text
    assert _epochs(result.output / "metrics_attention.csv") == ["1", "2"]
    assert _epochs(result.metrics) == ["1"]


def test_progress_bars_tensorboard_and_curves(teacher, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    lines: List[str] = []
    config = _config(tmp_path, "run.tensorboard=true")
    result = _trainer(lines, progress=True).train_teacher(config)
    assert "[teacher] train epoch 1/1 loss" in "\n".join(lines)
    bars = capsys.readouterr().err
    assert "[teacher] train epoch 1/1" in bars and "loss=" in bars
    assert "[teacher] train epoch 1/1 test" in bars  # the evaluation has its bar too
    assert (result.output / "curves.png").is_file()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(result.output / "tensorboard"))
    events.Reload()
    assert {"test_acc", "train_loss", "lr"} <= set(events.Tags()["scalars"])
    (point,) = events.Scalars("test_acc")
    assert point.step == 1 and point.value == pytest.approx(result.test_acc)


def test_tensorboard_missing_is_refused_before_any_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ValueError, match=r"pip install 'graphkd\[log\]'"):
        Trainer(log=lambda line: None).train_teacher(_config(tmp_path, "run.tensorboard=true"))
    assert not (tmp_path / "teacher").exists()


def test_evaluate_reads_the_model_and_dataset_from_model_pt(teacher):
    path = teacher / "teacher" / "model.pt"
    quiet = Trainer(log=lambda line: None)
    recorded = quiet.evaluate(None, path, subset=64)
    assert recorded == pytest.approx(quiet.evaluate("resnet8", path, "fashion_mnist", subset=64))
    with pytest.raises(ValueError, match="holds a resnet8.*--model resnet8"):
        quiet.evaluate("resnet20", path)
