from __future__ import annotations

import runpy
import sys

import pytest

from graphkd.cli import main
from graphkd.engine import read_training_checkpoint

from .conftest import tiny_overrides


def _sets(output: str, epochs: int = 1) -> list:
    args = []
    for override in [*tiny_overrides(output, epochs), "data.limit_batches=1"]:
        args += ["--set", override]
    return args


def test_list_prints_methods_models_datasets_and_configs(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    from graphkd import list_methods

    assert "methods: " + ", ".join(["ce", *list_methods()]) in out
    assert "resnet8" in out and "fashion_mnist" in out and "cifar100_vgg13_vgg8" in out
    assert "  cifar100_lskd_vgg13_vgg8: KD+z-score (LSKD) 74.36 top-1 on CIFAR-100" in out


def test_train_teacher_distill_resume_and_evaluate(tmp_path, capsys):
    out = str(tmp_path)
    assert main(["train-teacher", "--config", "fashion_mnist", *_sets(out)]) == 0
    assert "teacher:" in capsys.readouterr().out
    assert (tmp_path / "teacher" / "config.yaml").is_file()

    assert main(["distill", "--config", "fashion_mnist", "--method", "rkd", *_sets(out)]) == 0
    assert "student (rkd)" in capsys.readouterr().out
    args = ["distill", "--config", "fashion_mnist", "--method", "rkd", *_sets(out, 2), "--resume"]
    assert main(args) == 0
    assert read_training_checkpoint(tmp_path / "rkd" / "last.pt")["epoch"] == 2

    checkpoint = str(tmp_path / "rkd" / "model.pt")
    args = ["evaluate", "--model", "resnet8", "--checkpoint", checkpoint]
    assert main([*args, "--dataset", "fashion_mnist", "--subset", "64", "--device", "cpu"]) == 0
    assert "resnet8 on fashion_mnist:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["distill", "--config", "fashion_mnist", "--method", "fitnets"],
            "unknown method 'fitnets'",
        ),
        (
            ["evaluate", "--model", "resnet9", "--checkpoint", "x", "--dataset", "fashion_mnist"],
            "unknown model 'resnet9'; valid names:",
        ),
        (
            ["evaluate", "--model", "resnet8", "--checkpoint", "x", "--dataset", "mnist"],
            "unknown dataset 'mnist'; valid names: cifar100, fashion_mnist, image_folder",
        ),
        (
            ["train-teacher", "--config", "fashion_mnist", "--set", "optim.lrate=1"],
            "unknown config key 'optim.lrate'; valid keys of 'optim'",
        ),
        (["quickstart", "--method", "fitnets"], "unknown method 'fitnets'; valid names: ce,"),
    ],
)
def test_bad_names_exit_2_listing_the_valid_ones(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_distill_method_options_from_the_command_line(tmp_path, capsys):
    config = tmp_path / "kd.yaml"
    config.write_text("method:\n  name: kd\n  options: {temperature: 2.0}\n")
    out = str(tmp_path)
    assert main(["train-teacher", "--config", str(config), *_sets(out)]) == 0
    args = ["distill", "--config", str(config), "--method", "dist", *_sets(out)]
    assert main([*args, "--set", "method.options.temperature=3.0"]) == 0
    state = read_training_checkpoint(tmp_path / "dist" / "last.pt")
    method = state["config"]["method"]
    assert (method["name"], method["options"]) == ("dist", {"temperature": 3.0})
    args = ["distill", "--config", str(config), "--method", "kd", *_sets(out)]
    assert main(args) == 0
    state = read_training_checkpoint(tmp_path / "kd" / "last.pt")
    method = state["config"]["method"]
    assert (method["name"], method["options"]) == ("kd", {"temperature": 2.0})


def test_quickstart_distils_from_the_shipped_teacher(tmp_path, capsys):
    out = str(tmp_path / "qs")
    args = ["quickstart", "--output", out, "--epochs", "1", "--limit-batches", "1"]
    args += ["--subset", "64", "--test-subset", "64", "--device", "cpu"]
    args += ["--set", "data.batch_size=32"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "using the shipped protocol teacher resnet20 (93.92%)" in text
    # --epochs 1 also shortens MHGD's attention stage (its 40 epochs scaled, at most 1)
    attention = (tmp_path / "qs" / "mhgd" / "metrics_attention.csv").read_text().splitlines()
    assert len(attention) == 2 and "not used for" not in text
    for line in ("cross-entropy only", "mhgd distillation", "gain of mhgd", "one seed"):
        assert line in text
    assert "protocol, 5 paired seeds: +1.52 points, 95% interval [+1.02, +2.01]" in text
    for run in ("ce", "mhgd"):
        assert (tmp_path / "qs" / run / "metrics.csv").is_file()
    assert not (tmp_path / "qs" / "teacher").exists()


def test_quickstart_trains_then_reuses_a_teacher_on_request(tmp_path, capsys):
    out = str(tmp_path / "qs")
    args = ["quickstart", "--output", out, "--epochs", "1", "--limit-batches", "1"]
    args += ["--subset", "64", "--test-subset", "64", "--device", "cpu", "--method", "rkd"]
    args += ["--set", "data.batch_size=32", "--set", "model.teacher=resnet8"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "training the teacher resnet8" in text
    for line in ("teacher", "cross-entropy only", "rkd distillation", "gain of rkd"):
        assert line in text
    for run in ("teacher", "ce", "rkd"):
        assert (tmp_path / "qs" / run / "metrics.csv").is_file()
    assert main([*args, "--train-teacher"]) == 0
    assert "reusing the teacher" in capsys.readouterr().out


def test_python_dash_m_graphkd_runs(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["graphkd", "list"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("graphkd", run_name="__main__")
    assert done.value.code == 0 and "methods:" in capsys.readouterr().out


def test_import_registers_a_users_method_for_list_and_distill(tmp_path, monkeypatch, capsys):
    (tmp_path / "registering.py").write_text(
        "import graphkd\n"
        "from graphkd.distill import METHODS\n\n"
        "@METHODS.register('user_soft_kd')\n"
        "def user_soft_kd(temperature: float = 2.0):\n"
        "    return graphkd.create_method('kd', temperature=temperature)\n"
    )
    monkeypatch.chdir(tmp_path)
    from graphkd.distill import METHODS

    try:
        assert main(["list", "--import", "registering"]) == 0
        assert "user_soft_kd" in capsys.readouterr().out
    finally:
        METHODS._factories.pop("user_soft_kd", None)
        sys.modules.pop("registering", None)
    assert main(["list", "--import", "no_such_module_here"]) == 2
    assert "graphkd: error: --import no_such_module_here" in capsys.readouterr().err


@pytest.mark.parametrize(("epochs", "warmup"), [(30, 2), (20, 1), (3, 0), (1, 0), (299, 20)])
def test_epochs_scales_the_learning_rate_warm_up_and_keeps_it_shorter_than_the_run(epochs, warmup):
    import argparse

    from graphkd.cli import _shortcut_overrides
    from graphkd.engine import apply_overrides, load_config

    config = load_config("cifar100_vit_vrm_resnet56_deit_tiny")  # 20 warm-up epochs of 300
    assert (config.optim.epochs, config.optim.warmup_epochs) == (300, 20)
    shortcuts = dict(epochs=epochs, subset=None, test_subset=None, limit_batches=None, device=None)
    overrides = _shortcut_overrides(argparse.Namespace(**shortcuts), config)
    assert f"optim.warmup_epochs={warmup}" in overrides
    assert apply_overrides(config, overrides).optim.warmup_epochs == warmup  # accepted
    without = _shortcut_overrides(argparse.Namespace(**shortcuts), load_config("fashion_mnist"))
    assert not any(o.startswith("optim.warmup_epochs") for o in without)
