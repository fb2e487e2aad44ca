"""benchmarks/run.py: which trainings it starts, what it skips, and its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def runner(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    commands = []

    def fake_training(command):
        """Record the command and leave what a finished run leaves."""
        commands.append(command)
        options = dict(c.removeprefix("--set=").split("=", 1) for c in command if "=" in c)
        name = (
            "teacher" if command[0] == "train-teacher" else command[command.index("--method") + 1]
        )
        folder = Path(options["run.output"]) / name
        folder.mkdir(parents=True, exist_ok=True)
        accuracy = 80.0 + int(options["run.seed"])
        (folder / "metrics.csv").write_text(f"epoch,test_acc,seconds\n1,{accuracy},2.0\n")
        (folder / "model.pt").write_text("weights")

    monkeypatch.setattr(module, "run", fake_training)
    monkeypatch.setattr(module, "plot", lambda runs, output: None)
    module.commands = commands
    return module


def test_trains_the_teacher_once_then_every_method_and_seed(runner, tmp_path):
    runner.main(["--methods", "ce", "kd", "--seeds", "0", "1", "--output", str(tmp_path)])
    kinds = [c[0] for c in runner.commands]
    assert kinds == ["train-teacher"] + ["distill"] * 4
    assert all(
        f"--set=model.teacher_checkpoint={tmp_path}/teacher/model.pt" in c
        for c in runner.commands[1:]
    )
    table = (tmp_path / "results.md").read_text()
    assert "| kd | 80.50 +- 0.71 | 2 | +0.00 | 2.0 |" in table
    runner.commands.clear()
    runner.main(["--methods", "ce", "kd", "--seeds", "0", "1", "--output", str(tmp_path)])
    assert runner.commands == []  # every run finished: nothing is trained again


def test_one_seed_shows_its_value_without_a_spread(runner, tmp_path):
    runner.main(["--methods", "ce", "kd", "--seeds", "0", "--output", str(tmp_path)])
    table = (tmp_path / "results.md").read_text()
    assert "| kd | 80.00 | 1 | +0.00 | 2.0 |" in table and "0.00 +-" not in table


def test_every_training_is_started_with_resume(runner, tmp_path):
    """--resume continues a cut-off run and starts a missing one afresh, so a folder left
    by a killed run is never refused."""
    runner.main(["--methods", "kd", "--seeds", "0", "--output", str(tmp_path)])
    assert all("--resume" in command for command in runner.commands)


def test_a_given_teacher_is_reused_and_not_trained(runner, tmp_path):
    teacher = tmp_path / "base" / "teacher"
    teacher.mkdir(parents=True)
    (teacher / "model.pt").write_text("weights")
    (teacher / "metrics.csv").write_text("epoch,test_acc,seconds\n1,90.0,1.0\n")
    output = tmp_path / "ablation"
    runner.main(
        ["--methods", "vrm", "--seeds", "0", "--teacher", str(teacher), "--output", str(output)]
        + ["--set", "method.options.prune=false"]
    )
    assert [c[0] for c in runner.commands] == ["distill"]
    assert f"--set=model.teacher_checkpoint={teacher}/model.pt" in runner.commands[0]
    assert "--set=method.options.prune=false" in runner.commands[0]
    assert (output / "results.md").read_text().startswith("Teacher: 90.00% top-1.")


def test_a_teacher_folder_without_weights_is_an_error(runner, tmp_path):
    with pytest.raises(SystemExit):
        runner.main(["--teacher", str(tmp_path), "--output", str(tmp_path / "out")])
    assert runner.commands == []


def test_the_ablation_table_compares_every_switch_with_the_full_method(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "vrm_ablation", REPO / "benchmarks" / "vrm_ablation.py"
    )
    ablation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablation)
    for seed, accuracy in enumerate([78.0, 80.0]):
        folder = tmp_path / f"seed{seed}" / "vrm"
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text(f"epoch,test_acc\n1,50.0\n2,{accuracy}\n")
        (folder / "model.pt").write_text("weights")
    full = ablation.final_accuracies(tmp_path, "vrm", [0, 1])
    assert full == [78.0, 80.0]
    table = ablation.table({"vrm": full, "vrm, icv off": [80.0, 81.0]}, "vrm")
    assert "| vrm | 79.00 +- 1.41 | 2 | +0.00 |" in table
    assert "| vrm, icv off | 80.50 +- 0.71 | 2 | +1.50 |" in table
    with pytest.raises(FileNotFoundError, match="seed2"):
        ablation.final_accuracies(tmp_path, "vrm", [0, 2])


def test_plots_mark_whole_epochs_and_say_where_the_bars_start(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = importlib.util.spec_from_file_location("bench_plot", REPO / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plt.close("all")
    curve = [{"test_acc": value} for value in (70.0, 75.0, 78.0)]
    module.plot({"ce": {0: curve, 1: curve}, "kd": {0: curve, 1: curve}}, tmp_path)
    curves, bars = (plt.figure(number) for number in plt.get_fignums())
    axis = curves.axes[0]
    low, high = axis.get_xlim()
    shown = [tick for tick in axis.get_xticks() if low <= tick <= high]
    assert shown and all(float(tick).is_integer() for tick in shown)
    bottom = bars.axes[0].get_ylim()[0]
    assert bottom == 73.0 and "axis from 73" in bars.axes[0].get_ylabel()
    plt.close("all")
