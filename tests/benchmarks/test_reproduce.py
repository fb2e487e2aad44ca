"""benchmarks/reproduce.py and cifar_teachers.py, offline: recipes found from their
headers, a released-format teacher archive made in the test, fetched through a file://
URL, verified by SHA-256, converted, and loaded into the zoo."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from graphkd.data import CIFAR100
from graphkd.models import create_model, load_checkpoint

OLD_TORCH = pytest.mark.skipif(
    not hasattr(torch.serialization, "safe_globals"),
    reason="released checkpoints are read with torch.serialization.safe_globals (torch >= 2.4)",
)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "data"))
from fakes import write_cifar100  # noqa: E402

RECIPE = """# target: KD 73.33 top-1 on CIFAR-100 (Hinton et al. 2015)
# Recipe: KD, T 4.
data:
  dataset: cifar100
model:
  teacher: resnet56
  student: resnet20
optim:
  epochs: 240
method:
  name: kd
  options: {}
"""


@pytest.fixture
def teachers(load_benchmark):
    return load_benchmark("cifar_teachers")


@pytest.fixture
def release(tmp_path):
    """A cifar_teachers.tar in the released layout holding a resnet56 checkpoint with the
    argparse and numpy objects the release keeps beside the weights."""
    torch.manual_seed(0)
    network = create_model("resnet56")
    checkpoint = {
        "model": network.state_dict(),
        "opt": argparse.Namespace(lr=0.05, model="resnet56"),
        "accuracy": np.float64(72.34),
        "epoch": 240,
    }
    raw = io.BytesIO()
    torch.save(checkpoint, raw)
    archive = tmp_path / "upload" / "cifar_teachers.tar"
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tar:
        entry = tarfile.TarInfo("cifar_teachers/resnet56_vanilla/ckpt_epoch_240.pth")
        entry.size = len(raw.getvalue())
        tar.addfile(entry, io.BytesIO(raw.getvalue()))
    return archive, network


@OLD_TORCH
def test_download_verify_convert_and_load_the_teacher(teachers, release, tmp_path, monkeypatch):
    archive, network = release
    monkeypatch.setattr(teachers, "ARCHIVE_SHA256", teachers.sha256(archive))
    cache = tmp_path / "cache"
    path = teachers.prepare_teacher("resnet56", cache, url=archive.as_uri())
    assert path == cache / "resnet56.pt" and (cache / "cifar_teachers.tar").is_file()
    loaded = create_model("resnet56").eval()
    load_checkpoint(loaded, path)  # strict
    root = tmp_path / "cifar"
    write_cifar100(root, {"train": 2, "test": 4})
    test = CIFAR100(root, train=False, verify_checksums=False)
    images = torch.stack([CIFAR100.info.test_transform()(test[i][0]) for i in range(4)])
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), network.eval()(images))
    assert teachers.prepare_teacher("resnet56", cache, url=None) == path  # cached


def test_a_wrong_digest_is_refused(teachers, release, tmp_path, monkeypatch):
    archive, _ = release
    monkeypatch.setattr(teachers, "ARCHIVE_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="not the released archive"):
        teachers.prepare_teacher("resnet56", tmp_path / "cache", url=archive.as_uri())
    assert not (tmp_path / "cache" / "resnet56.pt").exists()


@OLD_TORCH
def test_without_a_pinned_digest_the_first_one_is_recorded_and_checked(
    teachers, release, tmp_path, capsys
):
    archive, _ = release
    assert teachers.ARCHIVE_SHA256 is None  # nothing is published to pin
    cache = tmp_path / "cache"
    teachers.prepare_teacher("resnet56", cache, url=archive.as_uri())
    record = cache / "cifar_teachers.tar.sha256"
    assert record.read_text().split()[0] == teachers.sha256(archive)
    assert "no SHA-256 of cifar_teachers.tar is published" in capsys.readouterr().out
    record.write_text("f" * 64 + "  cifar_teachers.tar\n")
    (cache / "resnet56.pt").unlink()
    with pytest.raises(ValueError, match="recorded at first use"):
        teachers.prepare_teacher("resnet56", cache, url=None)
    with pytest.raises(ValueError, match="given --sha256"):
        teachers.prepare_teacher("resnet56", tmp_path / "c2", archive, expected_sha256="1" * 64)


def test_offline_says_what_to_download_and_where(teachers, tmp_path):
    cache = tmp_path / "cache"
    missing = (tmp_path / "nowhere.tar").as_uri()
    with pytest.raises(FileNotFoundError) as error:
        teachers.prepare_teacher("resnet32x4", cache, url=missing)
    message = str(error.value)
    assert teachers.ARCHIVE_URL in message and str(cache / "cifar_teachers.tar") in message
    assert not list(cache.glob("*.part"))
    with pytest.raises(ValueError, match="no community CIFAR-100 teacher 'resnet8'"):
        teachers.prepare_teacher("resnet8", cache)


@OLD_TORCH
def test_an_unpacked_folder_is_a_source_too(teachers, release, tmp_path):
    archive, network = release
    folder = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    path = teachers.prepare_teacher(
        "resnet56", tmp_path / "cache", source=folder / "cifar_teachers"
    )
    loaded = create_model("resnet56")
    load_checkpoint(loaded, path)
    assert torch.equal(loaded.fc.weight, network.fc.weight)


@pytest.fixture
def suite(load_benchmark, tmp_path, monkeypatch):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "cifar100_kd_resnet56_resnet20.yaml").write_text(RECIPE)
    (recipes / "cifar100_resnet56_resnet20.yaml").write_text(RECIPE.split("\n", 2)[2])
    (recipes / "fashion_mnist.yaml").write_text(RECIPE)
    module = load_benchmark("reproduce")
    commands = []

    def fake_training(command):
        commands.append(command)
        options = dict(c.removeprefix("--set=").split("=", 1) for c in command if "=" in c)
        folder = Path(options["run.output"]) / "kd"
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text("epoch,test_acc\n1,73.9\n2,73.5\n")
        (folder / "model.pt").write_text("weights")

    monkeypatch.setattr(module, "run", fake_training)
    module.commands = commands
    return module, recipes


def test_recipes_come_from_the_target_line_of_cifar100_configs(suite):
    module, recipes = suite
    (recipe,) = module.discover(recipes)
    assert (recipe.name, recipe.method, recipe.teacher, recipe.student) == (
        "cifar100_kd_resnet56_resnet20",
        "kd",
        "resnet56",
        "resnet20",
    )
    assert (recipe.label, recipe.paper_top1, recipe.epochs) == ("KD", 73.33, 240)


def test_help_lists_the_pairs_and_dry_run_prints_the_plan(suite, tmp_path, capsys):
    module, recipes = suite
    with pytest.raises(SystemExit):
        module.main(["--recipes", str(recipes), "--help"])
    assert "cifar100_kd_resnet56_resnet20: KD, resnet56 -> resnet20, paper 73.33" in (
        capsys.readouterr().out
    )
    module.main(["--recipes", str(recipes), "--dry-run", "--cache", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert f"would prepare teacher {tmp_path / 'c' / 'resnet56.pt'}" in out
    assert "(download https://github.com/megvii-research/mdistiller/releases/download/" in out
    assert "would train cifar100_kd_resnet56_resnet20: kd, resnet56 -> resnet20, 240 epochs" in out
    assert module.commands == [] and not (tmp_path / "c").exists()


@OLD_TORCH
def test_the_suite_trains_once_and_prints_measured_beside_paper(suite, release, tmp_path):
    module, recipes = suite
    archive, _ = release
    args = ["--recipes", str(recipes), "--teachers", str(archive), "--output", str(tmp_path / "o")]
    module.main([*args, "--cache", str(tmp_path / "c")])
    (command,) = module.commands
    assert command[:3] == [
        "distill",
        "--config",
        str(recipes / "cifar100_kd_resnet56_resnet20.yaml"),
    ]
    assert f"--set=model.teacher_checkpoint={tmp_path / 'c' / 'resnet56.pt'}" in command
    text = (tmp_path / "o" / "results.md").read_text()
    assert (
        "| cifar100_kd_resnet56_resnet20 | KD | resnet56 -> resnet20 | 73.33 | 73.50 | 73.90 | +0.17 |"
        in text
    )
    module.main([*args, "--cache", str(tmp_path / "c")])
    assert len(module.commands) == 1  # finished: skipped


def _reproduce(*args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    script = str(REPO / "benchmarks" / "reproduce.py")
    return subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, env=environment,
        timeout=300,
    )  # fmt: skip


CLOSED = "http://127.0.0.1:9/cifar_teachers.tar"  # a closed local port: offline, at once


def test_offline_run_ends_with_one_line_and_dry_run_says_so(load_benchmark, tmp_path):
    """The docstring's example recipe exists; offline, a run prints one line (no
    traceback) and a dry run says what cannot be reached and where CIFAR-100 is read."""
    module = load_benchmark("reproduce")
    (example,) = re.findall(r"--only (\S+)", module.__doc__)
    assert example in {r.name for r in module.discover(module.shipped_config_dir())}

    common = ["--only", example, "--cache", str(tmp_path / "c"), "--url", CLOSED]
    common += ["--output", str(tmp_path / "o")]
    result = _reproduce(*common)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reproduce.py: error: "), result.stderr
    assert "the CIFAR-100 teachers are not available" in lines[0]

    write_cifar100(tmp_path / "cifar", {"train": 2, "test": 2})
    dry = _reproduce(*common, "--dry-run", "--set", f"data.root={tmp_path / 'cifar'}")
    assert dry.returncode == 0, dry.stderr
    assert f"offline: {CLOSED} cannot be reached" in dry.stdout
    assert f"CIFAR-100: read from {tmp_path / 'cifar' / 'cifar-100-python'}" in dry.stdout
