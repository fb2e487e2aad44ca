"""Global-batch graphs under DDP equal one process on the concatenated batch.

Two gloo processes (started by torchrun) each hold half of a batch; they gather the
Responses with gradients for their own half and average gradients as DDP does. The loss
and every parameter's gradient (the student's and the method's own) must equal a single
process computing the same method on the whole batch.
"""

from __future__ import annotations

import json
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
from graphkd.engine.distributed import DistributedContext, end_process_group
from graphkd.engine.global_batch import gather_responses
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
context = DistributedContext(rank, world, torch.device("cpu"))
local = inputs[rank * 4:(rank + 1) * 4]
with torch.no_grad():
    t = responses(teacher, local)
s = responses(student, local)
out = create_method(sys.argv[1])(gather_responses(t, context), gather_responses(s, context))
out["loss"].backward()
context.average_gradients(student)
if rank == 0:
    torch.save({"loss": out["loss"].detach(), "grads": [p.grad for p in student.parameters()]},
               sys.argv[2])
end_process_group()
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


HKD_WORKER = """
import sys
import torch
import torch.distributed as dist
from graphkd import Responses
from graphkd.distill.presets.hkd import HKDDistiller
from graphkd.engine.distributed import DistributedContext, end_process_group
from graphkd.engine.global_batch import gather_responses
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
context = DistributedContext(rank, world, torch.device("cpu"))
torch.manual_seed(0)
logits_t, logits_s = torch.randn(8, 4), torch.randn(8, 4, requires_grad=True)
embed_t, embed_s = torch.randn(8, 6), torch.randn(8, 5, requires_grad=True)
index = torch.tensor([3, 9, 0, 14, 7, 2, 11, 5])
method = HKDDistiller(k=3, teacher_dim=6, student_dim=5, labels=torch.arange(16) % 4, nce_k=4)
mine = slice(rank * 4, (rank + 1) * 4)
t = Responses(logits_t[mine], embedding=embed_t[mine], index=index[mine])
s = Responses(logits_s[mine], embedding=embed_s[mine], index=index[mine])
out = method(gather_responses(t, context), gather_responses(s, context))
out["loss"].backward()
context.average_gradients(method)
method.after_step(t, s.detach())
if rank == 0:
    torch.save({"loss": out["loss"].detach(), "state": method.state_dict(),
                "grads": [p.grad for p in method.parameters()]}, sys.argv[1])
end_process_group()
"""


def test_hkd_global_batch_updates_the_banks_as_one_process(tmp_path):
    """Forward over the gathered batch, ``after_step`` with each rank's own responses: the
    loss, the gradients and both memory banks equal one process on the whole batch."""
    from graphkd.distill.presets.hkd import HKDDistiller

    script = tmp_path / "worker.py"
    script.write_text(HKD_WORKER)
    result_file = tmp_path / "rank0.pt"
    done = run_torchrun([str(script), str(result_file)])
    assert done.returncode == 0, done.stderr[-3000:]
    distributed = torch.load(result_file, weights_only=True)

    torch.manual_seed(0)
    logits_t, logits_s = torch.randn(8, 4), torch.randn(8, 4)
    embed_t, embed_s = torch.randn(8, 6), torch.randn(8, 5)
    index = torch.tensor([3, 9, 0, 14, 7, 2, 11, 5])
    method = HKDDistiller(k=3, teacher_dim=6, student_dim=5, labels=torch.arange(16) % 4, nce_k=4)
    t = Responses(logits_t, embedding=embed_t, index=index)
    s = Responses(logits_s, embedding=embed_s, index=index)
    out = method(t, s)
    out["loss"].backward()
    method.after_step(t, s)
    torch.testing.assert_close(distributed["loss"], out["loss"].detach())
    for got, want in zip(distributed["grads"], [p.grad for p in method.parameters()]):
        torch.testing.assert_close(got, want)
    for name, value in method.state_dict().items():
        torch.testing.assert_close(distributed["state"][name], value, msg=name)


DISTIL_WORKER = """
import json, sys, traceback
import torch.distributed as dist
from graphkd.engine import Trainer, load_config
from graphkd.engine.distributed import end_process_group
dist.init_process_group("gloo")  # one group for all runs; each Trainer joins it
output, plan = sys.argv[1], json.loads(sys.argv[2])
results = {}
for method, overrides in plan.items():
    for mode in ("local", "global"):
        print("running", method, mode, file=sys.stderr, flush=True)
        config = load_config(
            "fashion_mnist",
            [*overrides, f"run.output={output}/{method}_{mode}", f"method.name={method}",
             f"method.graph_batch={mode}"],
        )
        try:
            results[f"{method} {mode}"] = Trainer(log=lambda line: None).distill(config).test_acc
        except Exception:
            results[f"{method} {mode}"] = traceback.format_exc()
if dist.get_rank() == 0:
    with open(f"{output}/results.json", "w") as handle:
        json.dump(results, handle)
end_process_group()
"""

#: Options that keep each method tiny on 64 images.
SMALL = {
    "hkd": ["method.options.nce_k=16"],
    "hkd_kd": ["method.options.nce_k=16"],
    "crd": ["method.options.nce_k=16"],
    "mhgd": ["method.options.stage1_epochs=1"],
}


@pytest.fixture(scope="module")
def torchrun_results(tmp_path_factory):
    """One torchrun of two gloo processes distilling every method one step with local and
    with global relational graphs (one launch and one process group for all runs keeps
    the start-up cost to seconds)."""
    from graphkd.engine import Trainer, load_config

    from .conftest import tiny_overrides

    output = tmp_path_factory.mktemp("graph_batch")
    teacher = Trainer(log=lambda line: None).train_teacher(
        load_config("fashion_mnist", [*tiny_overrides(str(output)), "data.limit_batches=1"])
    )
    common = [
        *tiny_overrides(str(output)),
        "data.limit_batches=1",
        f"model.teacher_checkpoint={teacher.model_path}",
    ]
    plan = {name: [*common, *SMALL.get(name, [])] for name in graphkd.list_methods()}
    script = output / "worker.py"
    script.write_text(DISTIL_WORKER)
    done = run_torchrun([str(script), str(output), json.dumps(plan)], timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((output / "results.json").read_text())


@pytest.mark.parametrize("mode", ["local", "global"])
@pytest.mark.parametrize("method", graphkd.list_methods())
def test_every_method_distils_under_torchrun(torchrun_results, method, mode):
    result = torchrun_results[f"{method} {mode}"]
    assert isinstance(result, float), result
    assert 0.0 <= result <= 100.0  # top-1 in percent
