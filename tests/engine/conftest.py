"""Tiny Fashion-MNIST runs for the engine tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _kill_marked(token: str) -> None:
    """Kill every process started with ``token`` in its environment (torchrun's workers
    run in sessions of their own, out of reach of a process-group kill)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if token.encode() in handle.read():
                    os.kill(int(entry), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def run_torchrun(args: List[str], timeout: float = 180) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=2 ARGS`` on a free local port; everything it started is
    killed if it outlives ``timeout``. Output goes through files, so a stray worker
    cannot keep the test waiting on a pipe."""
    token = f"GRAPHKD_TORCHRUN_TEST_{uuid.uuid4().hex}"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--nnodes=1",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO, token: "1"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_marked(token)
            process.wait()
            err.seek(0)
            pytest.fail(f"torchrun hung and was killed:\n{err.read()[-3000:]}")
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
