"""The `graphkd` command, run as a user runs it (a subprocess): one-line errors with
the fix and exit status 2, fast help, and the commands that need no training."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import yaml

from .conftest import REPO


def graphkd(*args: str, cwd: str = REPO, env: dict = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "graphkd", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphkd: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _bad_yaml(tmp_path) -> str:
    path = tmp_path / "broken.yaml"
    path.write_text("data:\n  batch_size: [1\n")
    return str(path)


def _python_tag(tmp_path) -> str:
    path = tmp_path / "tagged.yaml"
    path.write_text("data:\n  root: !!python/object/apply:os.getcwd []\n")
    return str(path)


CASES = {
    "unknown option": (
        lambda t: (
            ["distill", "--config", "fashion_mnist", "--method", "kd"]
            + ["--set", "method.options.alpha=abc"]
        ),
        ["method 'kd' has no option 'alpha'; its options: temperature, weight, ce_weight"],
    ),
    "wrongly typed option": (
        lambda t: (
            ["distill", "--config", "fashion_mnist", "--method", "vrm"]
            + ["--set", "method.options.alpha=abc"]
        ),
        ["option 'alpha' of method 'vrm' must be a float like 128.0, got 'abc'"],
    ),
    "malformed yaml": (
        lambda t: ["train-teacher", "--config", _bad_yaml(t)],
        ["broken.yaml line 3", "is not valid YAML"],
    ),
    "python tag": (
        lambda t: ["train-teacher", "--config", _python_tag(t)],
        ["tagged.yaml line 2", "python tag is never executed"],
    ),
    "device gpu": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--set", "run.device=gpu"],
        ["device 'gpu' is not a device", "--set run.device="],
    ),
    "limit_batches 0": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--limit-batches", "0"],
        ["data.limit_batches must be at least 1"],
    ),
    "subset 0": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--set", "data.subset=0"],
        ["data.subset must be at least 1"],
    ),
    "batch of one for rkd": (
        lambda t: (
            ["distill", "--config", "fashion_mnist", "--method", "rkd"]
            + ["--set", "data.batch_size=1", "--set", f"model.teacher_checkpoint={t}/none.pt"]
        ),
        ["needs at least 2 samples per process", "--set data.batch_size="],
    ),
    "method module missing": (
        lambda t: ["distill", "--config", "fashion_mnist", "--method", "no_such_module:f"],
        ["cannot import 'no_such_module'"],
    ),
    "negative learning rate": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--set", "optim.lr=-0.1"],
        ["optim.lr must be at least 0, got -0.1", "--set optim.lr=0.05"],
    ),
    "momentum of 1.5": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--set", "optim.momentum=1.5"],
        ["optim.momentum must be in [0, 1), got 1.5", "--set optim.momentum="],
    ),
    "negative weight decay": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--set", "optim.weight_decay=-1"],
        ["optim.weight_decay must be at least 0", "--set optim.weight_decay="],
    ),
    "gamma 0": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--set", "optim.gamma=0"],
        ["optim.gamma must be positive, got 0.0", "--set optim.gamma="],
    ),
    "milestone 0": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--set", "optim.milestones=[0]"],
        ["optim.milestones must be epochs", "--set optim.milestones="],
    ),
    "nesterov without momentum": (
        lambda t: (
            ["train-teacher", "--config", "fashion_mnist", "--set", "optim.nesterov=true"]
            + ["--set", "optim.momentum=0"]
        ),
        ["optim.nesterov needs a momentum", "--set optim.momentum=0.9"],
    ),
    "misspelt method": (
        lambda t: ["distill", "--config", "fashion_mnist", "--method", "rdk"],
        ["unknown method 'rdk'", "did you mean 'rkd'?"],
    ),
    "misspelt config": (
        lambda t: ["train-teacher", "--config", "fashion_mnst"],
        ["neither a file nor a shipped config", "did you mean 'fashion_mnist'?"],
    ),
    "misspelt key": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--set", "optim.lrr=0.1"],
        ["unknown config key 'optim.lrr'", "did you mean 'optim.lr'?"],
    ),
    "misspelt model": (
        lambda t: ["train-teacher", "--config", "fashion_mnist", "--set", "model.teacher=resnt8"],
        ["unknown model 'resnt8'", "did you mean 'resnet8'?"],
    ),
    "evaluate a missing file": (
        lambda t: ["evaluate", "--checkpoint", f"{t}/missing.pt"],
        ["no checkpoint at"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_user_errors_are_one_line_with_the_fix(case, tmp_path):
    argv, fragments = CASES[case]
    args = argv(tmp_path)
    if args[0] in ("train-teacher", "distill"):
        args += ["--set", f"run.output={tmp_path}/runs"]
    assert_one_line_error(graphkd(*args), *fragments)
    assert not (tmp_path / "runs").exists()  # refused before touching a file


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    result = graphkd(
        "train-teacher", "--config", "fashion_mnist", "--device", "cuda",
        "--set", f"run.output={tmp_path}",
    )  # fmt: skip
    assert_one_line_error(result, "asks for a CUDA GPU, but PyTorch sees 0", "run.device=auto")


def test_help_and_version_import_no_part_of_the_library():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['graphkd', 'quickstart', '--help']\n"
        "try:\n"
        "    runpy.run_module('graphkd', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('graphkd.engine', 'graphkd.distill', 'torchvision') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO}, timeout=300,
    )  # fmt: skip
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert "(default: runs/quickstart)" in result.stdout  # help texts show the defaults
    version = graphkd("--version")
    from graphkd import __version__

    assert version.returncode == 0 and version.stdout.strip() == f"graphkd {__version__}"


def test_config_show_prints_every_key_resolved(tmp_path):
    result = graphkd("config", "show", "fashion_mnist", "--set", "optim.lr=0.125")
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    from graphkd.engine import Config, config_to_dict

    every = config_to_dict(Config())
    assert {s: set(v) for s, v in shown.items()} == {s: set(v) for s, v in every.items()}
    assert shown["optim"]["lr"] == 0.125 and shown["data"]["download"] is True


def test_offline_download_failure_names_the_folder_and_the_fix(tmp_path):
    """No network needed: the proxy is a closed local port, so the download fails."""
    closed = "http://127.0.0.1:9"
    env = {"http_proxy": closed, "https_proxy": closed, "HTTP_PROXY": closed, "HTTPS_PROXY": closed}
    root = tmp_path / "data"
    common = ["train-teacher", "--config", "fashion_mnist", "--set", f"data.root={root}"]
    common += ["--set", f"run.output={tmp_path}/runs"]
    result = graphkd(*common, env=env)
    line = assert_one_line_error(result, "downloading them into", str(root), "failed")
    assert "put the IDX files in" in line
    assert "downloading it into" in result.stdout  # the log said it would download
    # without downloads the fix is the command-line setting, not a Python argument
    result = graphkd(*common, "--set", "data.download=false", env=env)
    line = assert_one_line_error(result, "--set data.download=true", str(root))
    assert "download=True" not in line
    assert not (tmp_path / "runs").exists()


def test_shortcuts_a_users_method_and_evaluate_from_model_pt(tmp_path):
    """train-teacher with --epochs/--subset, distill --method module:factory, evaluate
    without --model/--dataset, and a rerun refused without --resume/--overwrite."""
    (tmp_path / "my_methods.py").write_text(
        "import graphkd\n\n"
        "def soft_kd(temperature: float = 2.0):\n"
        "    return graphkd.create_method('kd', temperature=temperature)\n"
    )
    tiny = ["--config", "fashion_mnist", "--epochs", "2", "--subset", "64", "--test-subset"]
    tiny += ["64", "--limit-batches", "1", "--device", "cpu"]
    tiny += ["--set", "model.teacher=resnet8", "--set", "data.batch_size=32"]
    tiny += ["--set", f"run.output={tmp_path}/runs"]
    cwd = str(tmp_path)
    teacher = graphkd("train-teacher", *tiny, cwd=cwd)
    assert teacher.returncode == 0, teacher.stderr
    saved = yaml.safe_load((tmp_path / "runs" / "teacher" / "config.yaml").read_text())
    assert (saved["optim"]["epochs"], saved["optim"]["milestones"]) == (2, [2])
    assert (saved["data"]["subset"], saved["data"]["limit_batches"]) == (64, 1)
    assert "[teacher] train epoch 2/2" in teacher.stdout

    again = graphkd("train-teacher", *tiny, cwd=cwd)
    assert_one_line_error(again, "already holds a run", "--resume", "--overwrite")

    method = ["--method", "my_methods:soft_kd", "--set", "method.options.temperature=3"]
    student = graphkd("distill", *tiny, *method, cwd=cwd)
    assert student.returncode == 0, student.stderr
    run = tmp_path / "runs" / "soft_kd"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["method"] == {**saved["method"], "name": "my_methods:soft_kd"}
    assert saved["method"]["options"] == {"temperature": 3.0}
    assert (run / "curves.png").is_file()

    evaluated = graphkd("evaluate", "--checkpoint", str(run / "model.pt"), "--subset", "64")
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.startswith("resnet8 on fashion_mnist: ")


def _image_folder_model(tmp_path, image_tree_writer):
    """A tree of 3 classes and a graphkd model.pt of a resnet8 for it (no training)."""
    from graphkd.engine.run_checkpoint import _save_model
    from graphkd.engine.trainer import build_model

    tree = image_tree_writer(tmp_path / "tree", per_class=(2, 2), size=(40, 36))
    run = tmp_path / "runs" / "teacher"
    run.mkdir(parents=True)
    model = build_model("resnet8", "image_folder", str(tree), 32)
    _save_model(run / "model.pt", model, "resnet8", "image_folder", 0.0)
    return tree, run / "model.pt"


def test_evaluate_reads_an_image_folder_from_root(tmp_path, image_tree_writer):
    tree, model = _image_folder_model(tmp_path, image_tree_writer)
    result = graphkd("evaluate", "--checkpoint", str(model), "--root", str(tree), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("resnet8 on image_folder: ")
    # without --root, the one-line error names the option
    result = graphkd(
        "evaluate", "--checkpoint", str(model), env={"GRAPHKD_DATA_DIR": str(tmp_path / "none")}
    )
    assert_one_line_error(result, "image_folder", "--root FOLDER")


def test_ctrl_c_says_in_one_line_what_was_saved_and_how_to_continue(tmp_path):
    """SIGINT after the first epoch: exit status 130, one line naming last.pt and
    --resume, no traceback; the run continues from there."""
    import signal

    args = ["train-teacher", "--config", "fashion_mnist", "--epochs", "50", "--subset", "64"]
    args += ["--test-subset", "64", "--limit-batches", "1", "--device", "cpu"]
    args += ["--set", "model.teacher=resnet8", "--set", "data.batch_size=32"]
    args += ["--set", f"run.output={tmp_path}/runs"]
    environment = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"}
    # as from a terminal: a shell that starts a job in the background (CI's `make test &`)
    # leaves SIGINT ignored, and the child would inherit that
    process = subprocess.Popen(
        [sys.executable, "-m", "graphkd", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=environment,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        for line in process.stdout:
            if "train epoch 1/50" in line:
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphkd: interrupted: "), err
    assert "last.pt holds epoch" in lines[0] and "--resume" in lines[0], lines[0]
    from graphkd.engine import read_training_checkpoint

    saved = read_training_checkpoint(tmp_path / "runs" / "teacher" / "last.pt")["epoch"]
    assert f"holds epoch {saved} of 50" in lines[0]


def test_evaluate_on_another_dataset_names_the_cli_fix(tmp_path):
    """A Fashion-MNIST model.pt evaluated with --dataset cifar100: leave out --dataset.
    A plain state dict (nothing recorded) gets the loader's points, each one separate."""
    from graphkd.engine.run_checkpoint import _save_model
    from graphkd.engine.trainer import build_model

    model = build_model("resnet8", "fashion_mnist")
    _save_model(tmp_path / "model.pt", model, "resnet8", "fashion_mnist", 0.0)
    result = graphkd(
        "evaluate", "--checkpoint", str(tmp_path / "model.pt"), "--dataset", "cifar100"
    )
    line = assert_one_line_error(result, "trained on fashion_mnist", "leave out --dataset")
    assert "in_channels" not in line and "strict=False" not in line
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    plain = ["--checkpoint", str(tmp_path / "plain.pt"), "--model", "resnet8"]
    line = assert_one_line_error(graphkd("evaluate", *plain, "--dataset", "cifar100"))
    assert "in_channels=1; the checkpoint is for 10 classes" in line


def test_epochs_scales_a_methods_stages_and_the_banner_names_their_key(tmp_path):
    """``--epochs 1`` with mhgd: one attention epoch (not 40), announced with the key that
    sets it; ``--set`` still has the last word."""
    from graphkd.engine.run_checkpoint import _save_model
    from graphkd.engine.trainer import build_model

    teacher = tmp_path / "runs" / "teacher"
    teacher.mkdir(parents=True)
    _save_model(teacher / "model.pt", build_model("resnet8", "fashion_mnist"), "resnet8",
                "fashion_mnist", 0.0)  # fmt: skip
    args = ["distill", "--config", "fashion_mnist", "--method", "mhgd", "--epochs", "1"]
    args += ["--subset", "64", "--test-subset", "64", "--limit-batches", "1", "--device", "cpu"]
    args += ["--set", "model.teacher=resnet8", "--set", "data.batch_size=32"]
    args += ["--set", f"run.output={tmp_path}/runs"]
    result = graphkd(*args)
    assert result.returncode == 0, result.stderr
    assert (
        "2 stages, 2 epochs in all: 1. attention: 1 epoch training the distiller "
        "(method.options.stage1_epochs; metrics_attention.csv); 2. transfer: 1 epoch "
        "training the student (optim.epochs; metrics.csv)"
    ) in result.stdout
    saved = yaml.safe_load((tmp_path / "runs" / "mhgd" / "config.yaml").read_text())
    assert saved["method"]["options"] == {"stage1_epochs": 1}
    again = graphkd(*args, "--overwrite", "--set", "method.options.stage1_epochs=2")
    assert "1. attention: 2 epochs training the distiller" in again.stdout, again.stderr


def test_analyze_reads_models_and_dataset_from_model_pt_and_takes_torchvision(
    tmp_path, image_tree_writer
):
    """analyze without --teacher-models/--student-model/--dataset (model.pt records them),
    a torchvision teacher named on the command line, an image folder read from --root."""
    from graphkd.engine.run_checkpoint import _save_model
    from graphkd.engine.trainer import build_model

    tree = str(image_tree_writer(tmp_path / "tree", per_class=(2, 2), size=(40, 36)))
    for name, arch in (("teacher", "torchvision:resnet18"), ("student", "resnet8")):
        network = build_model(arch, "image_folder", tree)
        _save_model(tmp_path / f"{name}.pt", network, arch, "image_folder", 0.0)
    torch.save(build_model("torchvision:resnet18", "image_folder", tree).state_dict(),
               tmp_path / "plain.pt")  # fmt: skip
    common = ["--student", str(tmp_path / "student.pt"), "--root", tree, "--batch-size", "6"]
    common += ["--cam-images", "1", "--device", "cpu"]
    result = graphkd("analyze", "--teachers", str(tmp_path / "teacher.pt"), *common,
                     "--output", str(tmp_path / "recorded"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "teacher 1 (torchvision:resnet18)" in (tmp_path / "recorded" / "report.md").read_text()
    named = ["--teachers", str(tmp_path / "plain.pt"), "--teacher-models", "torchvision:resnet18"]
    result = graphkd("analyze", *named, *common, "--output", str(tmp_path / "named"))
    assert result.returncode == 0, result.stderr
    # a plain state dict records no model: the error names the option
    result = graphkd("analyze", "--teachers", str(tmp_path / "plain.pt"), *common,
                     "--output", str(tmp_path / "x"))  # fmt: skip
    assert_one_line_error(result, "plain.pt does not record its model", "--teacher-models")


def test_imagenet_cpu_smoke_run_as_documented(tmp_path, image_tree_writer):
    """docs/imagenet.rst's smoke run: train-teacher then distill on a tiny tree, no
    teacher_checkpoint; a data: line names the folder; workers fit the CPUs, unwarned."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    image_tree_writer(tmp_path / "tiny_tree", per_class=(4, 2), size=(40, 36))
    args = ["--config", "imagenet_resnet34_resnet18_kd", "--set", "data.root=tiny_tree"]
    args += ["--set", "data.image_size=32", "--epochs", "1", "--device", "cpu"]
    args += ["--set", "model.teacher=torchvision:resnet34"]
    for command in ("train-teacher", "distill"):
        result = graphkd(command, *args, cwd=str(tmp_path))
        assert result.returncode == 0, result.stderr
        assert (
            "data: image_folder from tiny_tree: 3 classes, 12 training images (train/), "
            "6 validation images (val/), 32-pixel crops"
        ) in result.stdout
        assert "DataLoader will create" not in result.stderr
        if cpus < 8:
            assert f"data.workers 8 is more than the {cpus} CPUs" in result.stdout
    assert (tmp_path / "runs" / "imagenet_resnet34_resnet18_kd" / "kd" / "model.pt").is_file()


def test_a_huge_test_loss_is_explained_once(tmp_path):
    """Two steps of VRM (alpha 128) on 32-image batches blow the student's logits up: the
    run says the test loss is its test cross-entropy and what the scale means."""
    from graphkd.engine.run_checkpoint import _save_model
    from graphkd.engine.trainer import build_model

    teacher = tmp_path / "runs" / "teacher"
    teacher.mkdir(parents=True)
    _save_model(teacher / "model.pt", build_model("resnet8", "fashion_mnist"), "resnet8",
                "fashion_mnist", 0.0)  # fmt: skip
    args = ["distill", "--config", "fashion_mnist", "--method", "vrm", "--epochs", "2"]
    args += ["--subset", "64", "--test-subset", "64", "--limit-batches", "2", "--device", "cpu"]
    args += ["--set", "model.teacher=resnet8", "--set", "data.batch_size=32"]
    args += ["--set", f"run.output={tmp_path}/runs"]
    result = graphkd(*args)
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "runs" / "vrm" / "metrics.csv").read_text().splitlines()
    header, first = rows[0].split(","), rows[1].split(",")
    assert float(first[header.index("test_loss")]) > 10 * 2.3026
    assert result.stdout.count("is the student's test cross-entropy") == 1
    assert "far above 2.30 for uniform guesses" in result.stdout


def test_help_loads_neither_torch_nor_dgl():
    """`graphkd --help` answers at once: importing graphkd loads neither PyTorch nor DGL."""
    code = (
        "import runpy, sys\n"
        "for argv in (['graphkd', '--help'], ['graphkd', 'distill', '--help']):\n"
        "    sys.argv = argv\n"
        "    try:\n"
        "        runpy.run_module('graphkd', run_name='__main__')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('LOADED', [m for m in ('torch', 'dgl', 'numpy') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO}, timeout=300,
    )  # fmt: skip
    assert "LOADED []" in result.stdout, result.stdout + result.stderr


def test_help_shows_only_defaults_that_say_something():
    """No "(default: None)", none on required options or flags, never two defaults."""
    for command in ("train-teacher", "distill", "evaluate", "analyze", "quickstart", "list"):
        text = " ".join(graphkd(command, "--help").stdout.split())
        for shown in ("(default: None)", "(default: False)", "(default: [])"):
            assert shown not in text, (command, shown)
        assert "records) (default" not in text and text.count("(default: auto)") <= 1
    evaluate = " ".join(graphkd("evaluate", "--help").stdout.split())
    assert "(default: 256)" in evaluate and "(default: the one model.pt records)" in evaluate


def test_two_factories_of_one_name_do_not_share_a_run_unasked(tmp_path):
    """mymethod:factory ran into <output>/factory; mymethod2:factory is refused there
    with the fix, and the first run's records stay."""
    from graphkd.engine.run_checkpoint import _save_model
    from graphkd.engine.trainer import build_model

    runs = tmp_path / "runs"
    (runs / "teacher").mkdir(parents=True)
    _save_model(runs / "teacher" / "model.pt", build_model("resnet8", "fashion_mnist"),
                "resnet8", "fashion_mnist", 0.0)  # fmt: skip
    for module in ("mymethod", "mymethod2"):
        (tmp_path / f"{module}.py").write_text(
            "import graphkd\n\ndef factory():\n    return graphkd.create_method('kd')\n"
        )
    (runs / "factory").mkdir()
    (runs / "factory" / "config.yaml").write_text("method:\n  name: mymethod:factory\n")
    (runs / "factory" / "metrics.csv").write_text("epoch\n1\n")
    args = ["distill", "--config", "fashion_mnist", "--method", "mymethod2:factory"]
    args += ["--set", f"run.output={runs}", "--set", "model.teacher=resnet8"]
    line = assert_one_line_error(graphkd(*args, cwd=str(tmp_path)))
    assert "holds a run of method 'mymethod:factory'" in line and "--set run.output=" in line
    assert (runs / "factory" / "metrics.csv").read_text() == "epoch\n1\n"
