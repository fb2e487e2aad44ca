"""Tiny Fashion-MNIST runs for the engine tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import List

import pytest

from graphkd.data import FashionMNIST

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_overrides(output: str, epochs: int = 1) -> List[str]:
    """A run of a few seconds: 64 training images, 64 test images, resnet8 models."""
    return [
        f"run.output={output}",
        "run.device=cpu",
        "run.deterministic=true",
        "data.subset=64",
        "data.test_subset=64",
        "data.batch_size=32",
        "data.test_batch_size=64",
        "model.teacher=resnet8",
        "model.student=resnet8",
        f"optim.epochs={epochs}",
        "optim.milestones=[1]",
    ]


@pytest.fixture(autouse=True)
def _needs_fashion_mnist() -> None:
    if FashionMNIST.find_files(None, train=True) is None:
        pytest.skip("Fashion-MNIST is not installed")


def run_torchrun(args: List[str], timeout: float = 180) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=2 ARGS`` in its own process group, killed whole on a hang."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"torchrun hung and was killed:\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
