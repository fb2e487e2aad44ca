from __future__ import annotations

import csv

import pytest
import torch

from graphkd.cli import main
from graphkd.engine import read_training_checkpoint
from graphkd.engine.distributed import setup_distributed

from .conftest import run_torchrun, tiny_overrides


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


@pytest.mark.parametrize("graph_batch", ["local", "global"])
def test_torchrun_two_processes_distil_on_gloo(tmp_path, graph_batch):
    sets = []
    overrides = [*tiny_overrides(str(tmp_path)), "data.limit_batches=2"]
    for override in [*overrides, f"method.graph_batch={graph_batch}"]:
        sets += ["--set", override]
    assert main(["train-teacher", "--config", "fashion_mnist", *sets]) == 0
    done = run_torchrun(
        ["-m", "graphkd", "distill", "--config", "fashion_mnist", "--method", "rkd", *sets]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("student (rkd)") == 1  # only rank 0 reports
    state = read_training_checkpoint(tmp_path / "rkd" / "last.pt")
    assert state["epoch"] == 1 and len(state["rng_ranks"]) == 2
    # the two ranks drew different augmentations, and nothing is prefixed by the wrapper
    assert not torch.equal(state["rng_ranks"][0]["torch"], state["rng_ranks"][1]["torch"])
    assert not any(key.startswith("module.") for key in state["model"])
    rows = list(csv.DictReader(open(tmp_path / "rkd" / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1"] and float(rows[0]["train_distance"]) >= 0
