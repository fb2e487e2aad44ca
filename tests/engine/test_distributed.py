from __future__ import annotations

import csv
import os
import subprocess
import sys

import torch

from graphkd.cli import main
from graphkd.engine import read_training_checkpoint
from graphkd.engine.distributed import setup_distributed

from .conftest import tiny_overrides


def test_single_process_context_starts_no_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = setup_distributed(torch.device("cpu"))
    assert (context.rank, context.world_size, context.is_main, context.active) == (
        0,
        1,
        True,
        False,
    )
    assert context.all_gather(3) == [3]
    value = torch.tensor([1.0, 2.0])
    assert torch.equal(context.sum(value), value)
    context.close()
    assert not torch.distributed.is_initialized()


def test_torchrun_two_processes_distil_on_gloo(tmp_path):
    sets = []
    for override in [*tiny_overrides(str(tmp_path)), "data.limit_batches=2"]:
        sets += ["--set", override]
    assert main(["train-teacher", "--config", "fashion_mnist", *sets]) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    command += ["--standalone", "-m", "graphkd", "distill", "--config", "fashion_mnist"]
    command += ["--method", "rkd", *sets]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("student (rkd)") == 1  # only rank 0 reports
    state = read_training_checkpoint(tmp_path / "rkd" / "last.pt")
    assert state["epoch"] == 1 and len(state["rng_ranks"]) == 2
    # the two ranks drew different augmentations, and nothing is prefixed by the wrapper
    assert not torch.equal(state["rng_ranks"][0]["torch"], state["rng_ranks"][1]["torch"])
    assert not any(key.startswith("module.") for key in state["model"])
    rows = list(csv.DictReader(open(tmp_path / "rkd" / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1"] and float(rows[0]["train_distance"]) >= 0
