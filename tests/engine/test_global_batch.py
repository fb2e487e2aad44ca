"""Global-batch graphs under DDP equal one process on the concatenated batch.

Two gloo processes (started by torchrun) each hold half of a batch; they gather the
Responses with gradients for their own half, scale the relational loss by the world
size and average gradients as DDP does. The loss and every parameter's gradient must
equal a single process computing the same method on the whole batch.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

import graphkd
from graphkd import Responses

from .conftest import run_torchrun

SETUP = """
import torch
from graphkd import Responses
torch.manual_seed(0)
inputs = torch.randn(8, 6, dtype=torch.float64)
teacher = torch.nn.Linear(6, 5).double()
student = torch.nn.Linear(6, 5).double()
def responses(model, x):
    return Responses(logits=model(x), embedding=torch.tanh(model(x)) * x[:, :5])
"""

WORKER = (
    SETUP
    + """
import os, sys
import torch.distributed as dist
from graphkd import create_method
from graphkd.engine.distributed import DistributedContext
from graphkd.engine.global_batch import gather_responses
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
context = DistributedContext(rank, world, torch.device("cpu"))
local = inputs[rank * 4:(rank + 1) * 4]
with torch.no_grad():
    t = responses(teacher, local)
s = responses(student, local)
out = create_method(sys.argv[1])(gather_responses(t, context), gather_responses(s, context))
(out["loss"] * world).backward()
context.average_gradients(student)
if rank == 0:
    torch.save({"loss": out["loss"].detach(), "grads": [p.grad for p in student.parameters()]},
               sys.argv[2])
dist.destroy_process_group()
"""
)


@pytest.mark.parametrize("method", ["rkd", "dist"])
def test_global_batch_loss_and_gradients_equal_one_process(tmp_path, method):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    result_file = tmp_path / "rank0.pt"
    done = run_torchrun([str(script), method, str(result_file)])
    assert done.returncode == 0, done.stderr[-3000:]
    distributed = torch.load(result_file, weights_only=True)

    namespace: dict = {}
    exec(textwrap.dedent(SETUP), namespace)
    with torch.no_grad():
        t = namespace["responses"](namespace["teacher"], namespace["inputs"])
    s = namespace["responses"](namespace["student"], namespace["inputs"])
    loss = graphkd.create_method(method)(t, s)["loss"]
    loss.backward()
    torch.testing.assert_close(distributed["loss"], loss.detach())
    for mine, reference in zip(
        distributed["grads"], [p.grad for p in namespace["student"].parameters()]
    ):
        torch.testing.assert_close(mine, reference)


def test_single_process_gather_is_the_identity():
    from graphkd.engine.distributed import DistributedContext
    from graphkd.engine.global_batch import gather_responses

    r = Responses(torch.randn(3, 4), embedding=torch.randn(3, 2))
    assert gather_responses(r, DistributedContext(0, 1, torch.device("cpu"))) is r
