"""benchmarks/run.py: which trainings it starts, what it skips, and its table."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

#: Final accuracy of a fake run: a per-row offset plus a per-seed term shared by all rows.
OFFSET = {"teacher": 10.0, "ce": 0.0, "kd": 2.0, "kd_ensemble": 2.5}


@pytest.fixture
def runner(monkeypatch, load_benchmark):
    module = load_benchmark("run")
    commands = []

    def fake_training(command, threads=None):
        """Record the command (and its thread cap) and leave what a finished run leaves."""
        commands.append(command)
        module.threads.append(threads)
        options = dict(c.removeprefix("--set=").split("=", 1) for c in command if "=" in c)
        name = (
            "teacher" if command[0] == "train-teacher" else command[command.index("--method") + 1]
        )
        folder = Path(options["run.output"]) / name
        folder.mkdir(parents=True, exist_ok=True)
        row = "kd_ensemble" if "model.teachers" in options else name
        seed = int(options["run.seed"])
        accuracy = 80.0 + OFFSET.get(row, 1.0) + seed + 0.1 * seed**2 * (row == "kd")
        (folder / "metrics.csv").write_text(
            f"epoch,test_acc,seconds\n1,{accuracy + 1},60.0\n2,{accuracy},60.0\n"
        )
        (folder / "model.pt").write_text("weights")

    module.threads = []
    monkeypatch.setattr(module, "run", fake_training)
    monkeypatch.setattr(module, "plot", lambda runs, output: None)
    module.commands = commands
    return module


def test_trains_the_teacher_once_then_every_row_and_seed(runner, tmp_path):
    runner.main(["--rows", "ce", "kd", "--seeds", "0", "1", "2", "--output", str(tmp_path)])
    assert [c[0] for c in runner.commands] == ["train-teacher"] + ["distill"] * 6
    assert runner.commands[0][2] == "fashion_mnist_protocol_teacher"
    assert all(
        f"--set=model.teacher_checkpoint={tmp_path}/teacher/model.pt" in c
        for c in runner.commands[1:]
    )
    table = (tmp_path / "results.md").read_text()
    assert "Command: `python benchmarks/run.py --rows ce kd --seeds 0 1 2" in table
    assert "Teacher: teacher 90.00% top-1." in table
    # kd: 82.0, 83.1, 84.4 -> mean 83.167, sd 1.2014, t(0.975, 2) = 4.3027, half 2.984;
    # kd - ce per seed: 2.0, 2.1, 2.4 -> mean 2.1667, sd 0.2082, half 0.517
    kd = "| kd | 83.17 +- 1.20 | [80.18, 86.15] | 84.17 +- 1.20 | 3 | +2.17 [+1.65, +2.68]* |"
    assert kd in table
    assert "| ce | 81.00 +- 1.00 |" in table and "| 2.0 |" in table
    assert kd + "  | yes | 2.0 |" in table  # 83.17 >= CE's 81.00 - 1.00
    runner.commands.clear()
    runner.main(["--rows", "ce", "kd", "--seeds", "0", "1", "2", "--output", str(tmp_path)])
    assert runner.commands == []  # every run finished: nothing is trained again


def test_every_row_has_its_folder_and_options(runner, tmp_path):
    runner.main(["--rows", "kd_ensemble", "vrm_no_icv", "--seeds", "0", "--output", str(tmp_path)])
    teachers = [c for c in runner.commands if c[0] == "train-teacher"]
    assert len(teachers) == 2 and f"--set=run.output={tmp_path}/ensemble_teacher" in teachers[1]
    ensemble, ablation = [c for c in runner.commands if c[0] == "distill"]
    assert "--set=model.teachers=[resnet20,resnet20]" in ensemble
    assert (
        f"--set=model.teacher_checkpoints=[{tmp_path}/teacher/model.pt,"
        f"{tmp_path}/ensemble_teacher/teacher/model.pt]" in ensemble
    )
    assert f"--set=run.output={tmp_path}/seed0/kd_ensemble" in ensemble
    assert "--set=method.options.icv=false" in ablation
    assert f"--set=run.output={tmp_path}/seed0/vrm_no_icv" in ablation
    assert "second teacher (seed 1, ensemble) 91.00%" in (tmp_path / "results.md").read_text()


def test_all_rows_cover_every_registered_method(load_benchmark):
    from graphkd import list_methods

    module = load_benchmark("run")
    names = [row.name for row in module.all_rows(list_methods())]
    assert names[0] == "ce" and set(list_methods()) <= set(names)
    assert "kd_ensemble" in names and "vrm_no_virtual" in names


def test_mhgd_has_a_row_trained_with_the_reference_svd_gradient(runner, tmp_path, load_benchmark):
    from graphkd import list_methods

    rows = {row.name: row for row in load_benchmark("run").all_rows(list_methods())}
    row = rows["mhgd_reference_svd_gradient"]
    assert (row.method, row.overrides) == ("mhgd", ("method.options.svd_gradient=reference",))
    runner.main(
        ["--rows", "mhgd_reference_svd_gradient", "--seeds", "0", "--output", str(tmp_path)]
    )
    (student,) = [c for c in runner.commands if c[0] == "distill"]
    assert student[student.index("--method") + 1] == "mhgd"
    assert "--set=method.options.svd_gradient=reference" in student
    assert f"--set=run.output={tmp_path}/seed0/mhgd_reference_svd_gradient" in student
    assert "| mhgd_reference_svd_gradient |" in (tmp_path / "results.md").read_text()


def test_minutes_per_run_count_every_stage(runner, tmp_path):
    runner.main(["--rows", "ce", "mhgd", "--seeds", "0", "--output", str(tmp_path)])
    # MHGD's attention stage logs 3 epochs of 40 s beside the 2 transfer epochs of 60 s
    attention = "epoch,train_loss,seconds\n1,1.0,40.0\n2,0.9,40.0\n3,0.8,40.0\n"
    (tmp_path / "seed0" / "mhgd" / "metrics_attention.csv").write_text(attention)
    runner.main(
        ["--rows", "ce", "mhgd", "--seeds", "0", "--output", str(tmp_path), "--report-only"]
    )
    lines = (tmp_path / "results.md").read_text().splitlines()
    assert next(x for x in lines if x.startswith("| mhgd |")).endswith("| 4.0 |")  # 240 s
    assert next(x for x in lines if x.startswith("| ce |")).endswith("| 2.0 |")


def test_quick_uses_tiny_settings_two_seeds_and_the_baselines(runner, tmp_path):
    runner.main(["--quick", "--output", str(tmp_path)])
    assert [c[0] for c in runner.commands] == ["train-teacher"] + ["distill"] * 4
    assert all(
        "--set=optim.epochs=1" in c and "--set=data.subset=128" in c for c in runner.commands
    )
    assert {c[c.index("--method") + 1] for c in runner.commands[1:]} == {"ce", "kd"}


def test_a_failed_run_stops_none_of_the_others_and_the_runner_names_it(
    runner, tmp_path, monkeypatch
):
    trained = runner.run

    def failing_for_kd_seed_0(command, threads=None):
        if "--method" in command and command[command.index("--method") + 1] == "kd":
            if "--set=run.seed=0" in command:
                raise subprocess.CalledProcessError(2, command)
        trained(command, threads)

    monkeypatch.setattr(runner, "run", failing_for_kd_seed_0)
    rows = ["--rows", "kd", "ce", "--seeds", "0", "1", "--output", str(tmp_path)]
    with pytest.raises(SystemExit) as stop:
        runner.main(rows)
    assert "1 of 4 runs failed (kd seed 0;" in str(stop.value)
    students = [c for c in runner.commands if c[0] == "distill"]
    assert len(students) == 3  # kd seed 1 and both ce runs trained after the failure
    assert not (tmp_path / "results.md").exists()
    runner.main([*rows, "--report-only"])  # tabulates the three finished runs
    table = (tmp_path / "results.md").read_text()
    assert "| kd | 83.10 |" in table and "| ce | 80.50 +- 0.71 |" in table


def test_a_row_below_ce_minus_one_std_is_marked(runner, tmp_path, monkeypatch):
    OFFSET_BELOW = {**OFFSET, "kd": -1.5}  # kd at 78.5 + seed terms, CE 80 + seed: 81 - 1
    monkeypatch.setitem(globals(), "OFFSET", OFFSET_BELOW)
    runner.main(["--rows", "ce", "kd", "--seeds", "0", "1", "2", "--output", str(tmp_path)])
    kd_line = next(x for x in (tmp_path / "results.md").read_text().splitlines() if "| kd |" in x)
    assert kd_line.endswith("| no | 2.0 |")


def test_parallel_jobs_run_every_student_once_with_a_share_of_the_cores(
    runner, tmp_path, monkeypatch
):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 8)
    argv = ["--rows", "ce", "kd", "--seeds", "0", "1", "2", "--output", str(tmp_path)]
    runner.main(argv)
    sequential = (tmp_path / "results.md").read_text()
    students = sorted(map(tuple, runner.commands[1:]))
    for path in tmp_path.glob("seed*/*/model.pt"):
        path.unlink()
    runner.commands.clear()
    runner.threads.clear()
    runner.main([*argv, "--jobs", "2"])
    assert sorted(map(tuple, runner.commands)) == students  # the teacher is kept
    assert runner.threads == [4] * 6  # 8 cores shared by 2 jobs
    table = (tmp_path / "results.md").read_text()
    assert table.split("\n")[2:] == sequential.split("\n")[2:]  # all but the command line
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert runner.threads_per_job(2) is None and runner.threads_per_job(1) is None
    with pytest.raises(SystemExit):
        runner.main([*argv, "--jobs", "0"])


def test_one_seed_shows_its_value_without_a_spread(runner, tmp_path):
    runner.main(["--rows", "ce", "kd", "--seeds", "0", "--output", str(tmp_path)])
    table = (tmp_path / "results.md").read_text()
    assert "| kd | 82.00 |  | 83.00 | 1 |  |  |  | 2.0 |" in table and "+- 0.00" not in table


def test_every_training_is_started_with_resume(runner, tmp_path):
    """--resume continues a cut-off run and starts a missing one afresh, so a folder left
    by a killed run is never refused."""
    runner.main(["--rows", "kd", "--seeds", "0", "--output", str(tmp_path)])
    assert all("--resume" in command for command in runner.commands)


def test_a_run_whose_log_holds_the_last_epoch_is_finished_without_its_weights(runner, tmp_path):
    """Checkpoints are not committed: a fresh checkout has only metrics.csv, and a row
    whose log reaches optim.epochs must not be trained again; a shorter log is resumed."""
    argv = ["--rows", "ce", "kd", "--seeds", "0", "--output", str(tmp_path)]
    argv += ["--set", "optim.epochs=2", "--teacher-set", "optim.epochs=2"]
    runner.main(argv)
    for path in tmp_path.glob("**/model.pt"):
        path.unlink()
    cut = tmp_path / "seed0" / "kd" / "metrics.csv"
    cut.write_text(cut.read_text().splitlines()[0] + "\n1,81.0,60.0\n")
    runner.commands.clear()
    runner.main(argv)
    assert [c[c.index("--method") + 1] for c in runner.commands] == ["kd"]
    assert runner.finished(tmp_path / "seed0" / "ce", 2)
    assert not runner.finished(tmp_path / "seed0" / "ce", 3)
    assert not runner.finished(tmp_path / "seed0" / "hkd", 2)


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
    assert "Teacher: teacher 90.00% top-1." in (output / "results.md").read_text()


def test_a_teacher_folder_without_weights_is_an_error(runner, tmp_path):
    with pytest.raises(SystemExit):
        runner.main(["--teacher", str(tmp_path), "--output", str(tmp_path / "out")])
    assert runner.commands == []


def test_the_plot_draws_one_interval_per_row(tmp_path, load_benchmark):
    module = load_benchmark("run")
    rows = {s: [{"test_acc": 80.0 + s, "seconds": 1.0}] for s in range(3)}
    module.plot({"ce": rows, "kd": rows}, tmp_path)
    assert (tmp_path / "ci.png").stat().st_size > 0 and (tmp_path / "curves.png").is_file()


def test_the_ablation_table_compares_every_switch_with_the_full_method(tmp_path, load_benchmark):
    ablation = load_benchmark("vrm_ablation")
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


def test_curves_mark_whole_epochs(tmp_path, load_benchmark):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    module = load_benchmark("run")
    plt.close("all")
    curve = [{"test_acc": value} for value in (70.0, 75.0, 78.0)]
    module.plot({"ce": {0: curve, 1: curve}, "kd": {0: curve, 1: curve}}, tmp_path)
    _, curves = (plt.figure(number) for number in plt.get_fignums())
    axis = curves.axes[0]
    low, high = axis.get_xlim()
    shown = [tick for tick in axis.get_xticks() if low <= tick <= high]
    assert shown and all(float(tick).is_integer() for tick in shown)
    assert (tmp_path / "ci.png").is_file() and (tmp_path / "curves.png").is_file()
    plt.close("all")


def test_epochs_scales_the_students_schedule_and_leaves_the_teacher(runner, tmp_path):
    runner.main(["--rows", "ce", "--seeds", "0", "--epochs", "60", "--output", str(tmp_path)])
    teacher, student = runner.commands
    assert "--set=optim.epochs=60" in student and "--set=optim.milestones=[40,52]" in student
    assert not any("optim.epochs" in c for c in teacher)


def test_warm_ups_and_initialisations_take_the_references_fraction_of_the_schedule(
    runner, tmp_path
):
    rows = ["dkd", "fsp", "mhgd", "--seeds", "0", "--output"]
    runner.main(["--rows", *rows, str(tmp_path / "15")])
    dkd, fsp, mhgd = [c for c in runner.commands if c[0] == "distill"]
    assert "--set=method.options.warmup_epochs=1" in dkd  # 20 of 240 -> 1 of 15
    assert "--set=method.options.init_epochs=2" in fsp  # 30 of 270 -> 2 of 15
    assert not any("method.options" in c for c in mhgd)
    runner.commands.clear()
    longer = [str(tmp_path / "60"), "--epochs", "60", "--set", "method.options.warmup_epochs=3"]
    runner.main(["--rows", *rows, *longer])
    dkd, fsp, _ = [c for c in runner.commands if c[0] == "distill"]
    assert [c for c in dkd if "warmup_epochs" in c] == ["--set=method.options.warmup_epochs=3"]
    assert "--set=method.options.init_epochs=7" in fsp  # 30 * 60 / 270 = 6.67


def test_each_run_records_its_code_and_the_table_says_which_made_each_row(runner, tmp_path):
    version = runner.code_version()
    runner.main(["--rows", "ce", "kd", "--seeds", "0", "--output", str(tmp_path)])
    import json

    recorded = json.loads((tmp_path / "seed0" / "kd" / "provenance.json").read_text())
    assert recorded == version and set(version) == {"graphkd", "commit"}
    (tmp_path / "seed0" / "ce" / "provenance.json").unlink()  # a run from before the records
    runner.commands.clear()
    runner.main(["--rows", "ce", "kd", "--seeds", "0", "--output", str(tmp_path)])
    assert runner.commands == []  # finished runs are not retrained by default
    note = (tmp_path / "results.md").read_text().split("Code that made the runs")[1]
    assert f"- {version['commit'][:12]}: kd" in note and "- unrecorded: ce" in note
    runner.main(
        ["--rows", "ce", "kd", "--seeds", "0", "--output", str(tmp_path)] + ["--rerun-older-code"]
    )
    assert [c[c.index("--method") + 1] for c in runner.commands] == ["ce"]
    assert "--overwrite" in runner.commands[0] and "--resume" not in runner.commands[0]


def test_runs_inside_the_repository_record_relative_paths(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "REPOSITORY", tmp_path)
    monkeypatch.chdir(tmp_path)  # the trainings run from the repository's root
    runner.main(["--rows", "ce", "--seeds", "0", "--output", str(tmp_path / "out")])
    student = runner.commands[1]
    assert "--set=run.output=out/seed0" in student
    assert "--set=model.teacher_checkpoint=out/teacher/model.pt" in student


def test_report_only_trains_nothing_and_pairs_the_seeds_both_rows_have(runner, tmp_path):
    argv = ["--rows", "ce", "kd", "--seeds", "0", "1", "2", "--output", str(tmp_path)]
    argv += ["--set", "optim.epochs=2", "--teacher-set", "optim.epochs=2"]
    runner.main(argv)
    unfinished = tmp_path / "seed1" / "kd"  # kd's seed 1 still running: one epoch logged
    (unfinished / "model.pt").unlink()
    metrics = unfinished / "metrics.csv"
    metrics.write_text(metrics.read_text().splitlines()[0] + "\n1,81.0,60.0\n")
    runner.commands.clear()
    runner.main([*argv, "--report-only"])
    assert runner.commands == []
    table = (tmp_path / "results.md").read_text()
    assert "Command: `python benchmarks/run.py --rows ce kd --seeds 0 1 2 --output" in table
    assert "--report-only" not in table
    # kd over seeds 0 and 2: 82.0 and 84.4; kd - ce per seed: 2.0 and 2.4, t(0.975, 1) = 12.706
    kd_line = next(x for x in table.splitlines() if x.startswith("| kd |"))
    assert (
        kd_line.startswith("| kd | 83.20 +- 1.70 |") and "| 2 | +2.20 [-0.34, +4.74] |" in kd_line
    )
