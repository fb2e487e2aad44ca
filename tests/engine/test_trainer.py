from __future__ import annotations

import csv

import pytest
import torch

from graphkd.engine import Trainer, load_config, read_training_checkpoint, seed_everything
from graphkd.engine.trainer import build_model
from graphkd.models import create_model, load_checkpoint

from .conftest import tiny_overrides


def _quiet() -> Trainer:
    return Trainer(progress=False, log=lambda line: None)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    config = load_config("fashion_mnist", tiny_overrides(str(root)))
    result = _quiet().train_teacher(config)
    return root, result


def test_teacher_run_writes_every_artefact(teacher_dir):
    root, result = teacher_dir
    run = root / "teacher"
    for name in ("config.yaml", "metrics.csv", "last.pt", "model.pt"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1"]
    assert {"lr", "train_loss", "train_ce", "test_loss", "test_acc", "seconds"} <= set(rows[0])
    assert float(rows[0]["test_acc"]) == pytest.approx(result.test_acc)
    state = read_training_checkpoint(run / "last.pt")
    assert state["epoch"] == 1 and state["config"]["method"]["name"] == "ce"
    assert {"optimizer", "scheduler", "scaler", "rng", "distiller"} <= set(state)
    # the final weights load into a fresh zoo model and give the logged accuracy
    net = create_model("resnet8", num_classes=10, in_channels=1, input_size=28)
    load_checkpoint(net, run / "model.pt")
    accuracy = _quiet().evaluate("resnet8", run / "model.pt", "fashion_mnist", subset=64)
    assert accuracy == pytest.approx(result.test_acc)


@pytest.mark.parametrize("method", ["rkd", "dist"])
def test_distillation_logs_each_term_and_trains_the_student(teacher_dir, method):
    root, _ = teacher_dir
    config = load_config("fashion_mnist", tiny_overrides(str(root)))
    seed_everything(config.run.seed)
    before = build_model(config.model.student, "fashion_mnist")  # the run's initial weights
    result = _quiet().distill(config, method)
    rows = list(csv.DictReader(open(root / method / "metrics.csv")))
    terms = {"rkd": ["train_distance", "train_angle"], "dist": ["train_inter", "train_intra"]}
    for column in ["train_loss", "train_ce", *terms[method]]:
        assert float(rows[0][column]) >= 0.0, column
    total = float(rows[0]["train_loss"])
    assert total > float(rows[0]["train_ce"])  # ce weight 1 plus a positive distillation loss
    state = read_training_checkpoint(root / method / "last.pt")
    assert state["config"]["model"]["teacher_checkpoint"] == str(root / "teacher" / "model.pt")
    changed = [
        not torch.equal(v, before.state_dict()[k])
        for k, v in state["model"].items()
        if v.is_floating_point()
    ]
    assert any(changed)
    assert 0.0 <= result.test_acc <= 100.0


def test_missing_teacher_and_unknown_names_are_clear_errors(tmp_path):
    config = load_config("fashion_mnist", tiny_overrides(str(tmp_path)))
    with pytest.raises(ValueError, match="needs a trained teacher.*train-teacher"):
        _quiet().distill(config, "rkd")
    with pytest.raises(ValueError, match="unknown method 'nope'; valid names: ce, ab, at, cc, crd"):
        _quiet().distill(config, "nope")
    bad = load_config("fashion_mnist", [*tiny_overrides(str(tmp_path)), "model.teacher=resnet9"])
    with pytest.raises(ValueError, match="unknown model 'resnet9'; valid names: .*resnet8"):
        _quiet().train_teacher(bad)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(teacher_dir, tmp_path):
    root, _ = teacher_dir
    teacher = str(root / "teacher" / "model.pt")
    straight = load_config(
        "fashion_mnist",
        [*tiny_overrides(str(tmp_path / "a"), epochs=2), f"model.teacher_checkpoint={teacher}"],
    )
    _quiet().distill(straight, "rkd")
    first = load_config(
        "fashion_mnist",
        [*tiny_overrides(str(tmp_path / "b"), epochs=1), f"model.teacher_checkpoint={teacher}"],
    )
    _quiet().distill(first, "rkd")  # "killed" after epoch 1
    resumed = load_config(
        "fashion_mnist",
        [*tiny_overrides(str(tmp_path / "b"), epochs=2), f"model.teacher_checkpoint={teacher}"],
    )
    _quiet().distill(resumed, "rkd", resume=True)
    a = read_training_checkpoint(tmp_path / "a" / "rkd" / "last.pt")
    b = read_training_checkpoint(tmp_path / "b" / "rkd" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for key, value in a["optimizer"]["state"].items():
        assert torch.equal(
            value["momentum_buffer"], b["optimizer"]["state"][key]["momentum_buffer"]
        )
    rows = list(csv.DictReader(open(tmp_path / "b" / "rkd" / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert (tmp_path / "b" / "rkd" / "previous.pt").is_file()


def test_corrupt_checkpoint_is_a_clear_error_and_previous_stays(teacher_dir, tmp_path):
    root, _ = teacher_dir
    overrides = [*tiny_overrides(str(tmp_path), epochs=2), "data.limit_batches=1"]
    overrides.append(f"model.teacher_checkpoint={root / 'teacher' / 'model.pt'}")
    config = load_config("fashion_mnist", overrides)
    _quiet().distill(config, "ce")
    run = tmp_path / "ce"
    previous = (run / "previous.pt").read_bytes()
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated.*previous.pt"):
        _quiet().distill(config, "ce", resume=True)
    assert (run / "previous.pt").read_bytes() == previous
    assert read_training_checkpoint(run / "previous.pt")["epoch"] == 1
    more = load_config("fashion_mnist", [*overrides[:-1], "optim.epochs=3"])
    result = _quiet().distill(more, "ce", resume=str(run / "previous.pt"))
    assert read_training_checkpoint(run / "last.pt")["epoch"] == 3 and result.epochs == 3


def test_amp_runs_with_a_float32_distiller(teacher_dir, tmp_path):
    root, _ = teacher_dir
    overrides = [*tiny_overrides(str(tmp_path)), "run.amp=true", "data.limit_batches=1"]
    overrides.append(f"model.teacher_checkpoint={root / 'teacher' / 'model.pt'}")
    result = _quiet().distill(load_config("fashion_mnist", overrides), "dist")
    rows = list(csv.DictReader(open(tmp_path / "dist" / "metrics.csv")))
    assert torch.isfinite(torch.tensor(float(rows[0]["train_loss"])))
    assert 0.0 <= result.test_acc <= 100.0
