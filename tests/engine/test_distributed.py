from __future__ import annotations

import csv

import pytest
import torch
from torch.torch_version import TorchVersion

from graphkd.cli import main
from graphkd.engine import distributed as module
from graphkd.engine import read_training_checkpoint
from graphkd.engine.distributed import DistributedContext, setup_distributed

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


@pytest.mark.parametrize(
    "version, backend, expected",
    [
        ("2.2.1", "gloo", ["barrier", "sleep", "destroy"]),
        ("2.7.1", "gloo", ["barrier", "sleep", "destroy"]),
        ("2.8.0", "gloo", ["destroy"]),
        ("2.2.1", "nccl", ["destroy"]),
    ],
)
def test_ending_the_group_lets_gloo_workers_release_tensors_first_on_old_torch(
    monkeypatch, version, backend, expected
):
    calls, sleeps = [], []
    monkeypatch.setattr(torch, "__version__", TorchVersion(version))
    monkeypatch.setattr(module.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(module.dist, "get_backend", lambda: backend)
    monkeypatch.setattr(module.dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(module.dist, "destroy_process_group", lambda: calls.append("destroy"))
    monkeypatch.setattr(module.time, "sleep", lambda s: calls.append("sleep") or sleeps.append(s))
    DistributedContext(0, 2, torch.device("cpu"), owns_group=True).close()
    assert calls == expected
    assert sleeps == ([module.GLOO_RELEASE_PAUSE_S] if "sleep" in expected else [])
    calls.clear()
    DistributedContext(0, 2, torch.device("cpu"), owns_group=False).close()  # not its group
    assert calls == []


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


AVERAGING_WORKER = """
import sys
import torch
import torch.distributed as dist
from graphkd.engine.distributed import DistributedContext, end_process_group

dist.init_process_group("gloo")
rank = dist.get_rank()
context = DistributedContext(rank, 2, torch.device("cpu"))
torch.manual_seed(rank)
module = torch.nn.ModuleDict({n: torch.nn.Linear(2, 1, bias=False) for n in "abc"})
context.broadcast_parameters(module)
x = torch.full((1, 2), float(rank + 1))
loss = module["a"](x).sum() + (module["b"](x).sum() if rank == 0 else 0)  # c: nobody
loss.backward()
context.average_gradients(module)
if rank == 0:
    torch.save({n: (l.weight.detach(), l.weight.grad) for n, l in module.items()}, sys.argv[1])
end_process_group()
"""


def test_gradients_of_parameters_one_rank_left_unused_are_averaged(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(AVERAGING_WORKER)
    done = run_torchrun([str(script), str(tmp_path / "rank0.pt")])
    assert done.returncode == 0, done.stderr[-3000:]
    saved = torch.load(tmp_path / "rank0.pt", weights_only=True)
    torch.manual_seed(0)  # rank 0's initial weights, broadcast to rank 1
    expected = {n: torch.nn.Linear(2, 1, bias=False).weight for n in "abc"}
    for name in "abc":
        assert torch.equal(saved[name][0], expected[name].detach())
    # a: ranks saw inputs 1 and 2, mean 1.5; b: only rank 0 (input 1), so 1 / 2; c: none
    assert torch.equal(saved["a"][1], torch.full((1, 2), 1.5))
    assert torch.equal(saved["b"][1], torch.full((1, 2), 0.5))
    assert saved["c"][1] is None


def test_a_method_with_parameters_distils_under_torchrun_without_ddp_warnings(tmp_path):
    sets = []
    for override in [*tiny_overrides(str(tmp_path)), "data.limit_batches=1"]:
        sets += ["--set", override]
    assert main(["train-teacher", "--config", "fashion_mnist", *sets]) == 0
    done = run_torchrun(
        ["-m", "graphkd", "distill", "--config", "fashion_mnist", "--method", "vrm", *sets]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for warning in ("find_unused_parameters", "broadcast_buffers"):
        assert warning not in done.stderr
    assert read_training_checkpoint(tmp_path / "vrm" / "last.pt")["distiller"]
