"""The wheel: built offline from a copy of the sources, without packaging warnings, and
carrying what an installed graphkd needs (configs, py.typed, the license)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[1]


def files_the_wheel_must_carry(repo: Path = REPO) -> List[str]:
    """Paths (as in the wheel) that ``pip install graphkd`` needs beside the code: add
    here whatever a command reads from the installed package."""
    package = repo / "graphkd"
    configs = sorted(path.relative_to(repo).as_posix() for path in package.glob("configs/*.yaml"))
    # the quickstart distils from the shipped teacher and quotes the protocol's record
    pretrained = sorted(path.relative_to(repo).as_posix() for path in package.glob("pretrained/*"))
    assert "graphkd/pretrained/fashion_mnist_resnet20.pt" in pretrained
    return ["graphkd/py.typed", *configs, *pretrained]


def _copy_sources(target: Path) -> Path:
    """What a source distribution holds (the build writes build/ and *.egg-info beside
    the sources, so it runs on a copy, never in the checkout)."""
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, target / name)
    shutil.copytree(
        REPO / "graphkd", target / "graphkd", ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple:
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip("pip is not available")
    source = _copy_sources(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("graphkd-*.whl")
    return built, result.stdout + result.stderr


def test_the_wheel_builds_without_packaging_warnings(wheel):
    _, log = wheel
    for warning in ("project.license", "License classifiers", "deprecated"):
        assert warning not in log, log


def test_the_wheel_carries_the_configs_py_typed_and_the_license(wheel):
    built, _ = wheel
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    required = files_the_wheel_must_carry()
    assert "graphkd/configs/fashion_mnist.yaml" in required
    assert [path for path in required if path not in names] == []
    assert "License-Expression: Apache-2.0" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
