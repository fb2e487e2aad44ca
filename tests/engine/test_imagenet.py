"""The ImageNet recipes end to end on a tiny image folder, on one and two processes, and
the options of large runs (accumulation, AMP type, channels-last, compile)."""

from __future__ import annotations

import csv
import textwrap

import pytest
import torch
import torchvision
from torch import nn

from graphkd import create_method
from graphkd.cli import main
from graphkd.data import ImageFolder, WithIndex
from graphkd.engine import load_config, read_training_checkpoint
from graphkd.engine.distributed import DistributedContext
from graphkd.engine.epochs import (
    BatchOrder,
    StudentStep,
    autocast_dtype,
    train_epoch,
    train_loader,
)
from graphkd.engine.optimizers import _grad_scaler
from graphkd.models import tap

from .conftest import run_torchrun

SIZE = 32  # data.image_size: ImageNet's pipeline at CIFAR's size keeps CPU runs short


def _teacher_weights(tmp_path, name: str) -> str:
    """A saved state dict of torchvision ``name`` for the tree's 3 classes (no download)."""
    path = tmp_path / f"{name}.pt"
    torch.save(torchvision.models.get_model(name, num_classes=3).state_dict(), path)
    return str(path)


def _recipe_overrides(tmp_path, writer, teacher: str) -> list:
    tree = writer(tmp_path / "tree", per_class=(4, 2), size=(40, 36))
    values = [
        f"data.root={tree}",
        f"data.image_size={SIZE}",
        "data.batch_size=4",
        "data.test_batch_size=6",
        "data.workers=0",
        "optim.epochs=1",
        f"model.teacher=torchvision:{teacher}",
        f"model.teacher_checkpoint={_teacher_weights(tmp_path, teacher)}",
        f"run.output={tmp_path / 'run'}",
        "run.device=cpu",
    ]
    return [item for value in values for item in ("--set", value)]


@pytest.mark.parametrize(
    ("recipe", "teacher", "extra"),
    [
        ("imagenet_resnet34_resnet18_kd", "resnet34", []),
        # alpha = 128 on batches of 4 random images diverges within 3 steps at lr 0.1
        ("imagenet_resnet50_mobilenet_v2_vrm", "resnet50", ["optim.lr=0.01"]),
        (
            "imagenet_resnet34_resnet18_hkd_kd",
            "resnet34",
            ["method.options.nce_k=4", "data.batch_size=8"],
        ),
    ],
)
def test_recipe_runs_end_to_end_on_a_tiny_tree(tmp_path, image_tree_writer, recipe, teacher, extra):
    sets = _recipe_overrides(tmp_path, image_tree_writer, teacher) + [
        i for e in extra for i in ("--set", e)
    ]
    assert main(["distill", "--config", recipe, *sets]) == 0
    method = load_config(recipe).method.name
    rows = list(csv.DictReader(open(tmp_path / "run" / method / "metrics.csv")))
    assert [row["epoch"] for row in rows] == ["1"]
    assert 0.0 <= float(rows[0]["test_acc"]) <= 100.0
    state = read_training_checkpoint(tmp_path / "run" / method / "last.pt")
    student = load_config(recipe).model.student.split(":")[1]
    reference = torchvision.models.get_model(student, num_classes=3).state_dict()
    assert state["model"].keys() == reference.keys()  # the plain torchvision layout


def test_recipe_under_torchrun_two_processes(tmp_path, image_tree_writer):
    sets = _recipe_overrides(tmp_path, image_tree_writer, "resnet34")
    recipe = "imagenet_resnet34_resnet18_kd"
    done = run_torchrun(["-m", "graphkd", "distill", "--config", recipe, *sets], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    state = read_training_checkpoint(tmp_path / "run" / "kd" / "last.pt")
    assert state["epoch"] == 1 and len(state["rng_ranks"]) == 2


WORKER = """
import sys
import torch, torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from graphkd import create_method
from graphkd.data import ImageFolder, WithIndex
from graphkd.engine import load_config
from graphkd.engine.distributed import DistributedContext, end_process_group
from graphkd.engine.epochs import BatchOrder, train_loader
from graphkd.models import tap

root, out = sys.argv[1], sys.argv[2]
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
context = DistributedContext(rank, world, torch.device("cpu"))
config = load_config("imagenet_resnet34_resnet18_kd", [f"data.root={root}", "data.batch_size=6", "data.workers=0"])
info = ImageFolder.describe(root, 8)
data = WithIndex(ImageFolder(root, transform=info.test_transform(), image_size=8))
loader = train_loader(BatchOrder.of(config), 3, data, context)
images, labels, index = next(iter(loader))
torch.manual_seed(0)
teacher = tap(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 3))).eval()
student_net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 3))
student = DistributedDataParallel(tap(student_net))
kd = create_method("kd", **config.method.options)
with torch.no_grad():
    t = teacher(images)
s = student(images)
loss = kd.ce_weight * F.cross_entropy(s.logits, labels) + kd(t, s)["loss"]
loss.backward()
losses, indices = [None] * world, [None] * world
dist.all_gather_object(losses, loss.item())
dist.all_gather_object(indices, index.tolist())
if rank == 0:
    grads = [p.grad for p in student_net.parameters()]
    torch.save({"losses": losses, "indices": indices, "grads": grads}, out)
del student, s, loss  # a DDP module outliving its group aborts the process at exit
end_process_group()
"""


def test_two_gloo_processes_over_an_image_folder_equal_one_process(tmp_path, image_tree_writer):
    tree = image_tree_writer(tmp_path / "tree", per_class=(4, 1), size=(12, 10))
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    done = run_torchrun([str(script), str(tree), str(tmp_path / "rank0.pt")])
    assert done.returncode == 0, done.stderr[-3000:]
    result = torch.load(tmp_path / "rank0.pt", weights_only=True)
    first, second = result["indices"]
    assert len(first) == len(second) == 3 and not set(first) & set(second)

    info = ImageFolder.describe(tree, 8)
    data = WithIndex(ImageFolder(tree, transform=info.test_transform(), image_size=8))
    batch = [data[i] for i in first + second]
    images = torch.stack([image for image, _, _ in batch])
    labels = torch.tensor([label for _, label, _ in batch])
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(192, 3)).eval()
    student = nn.Sequential(nn.Flatten(), nn.Linear(192, 3))
    with torch.no_grad():
        p_t = torch.softmax(teacher(images), dim=1)  # KD at temperature 1, weights 0.5/0.5
    z_s = student(images)
    kl = (p_t * (p_t.log() - torch.log_softmax(z_s, dim=1))).sum(1).mean()
    loss = 0.5 * nn.functional.cross_entropy(z_s, labels) + 0.5 * kl
    loss.backward()
    assert sum(result["losses"]) / 2 == pytest.approx(loss.item(), rel=1e-5)
    for mine, reference in zip(result["grads"], [p.grad for p in student.parameters()]):
        torch.testing.assert_close(mine, reference)


def _one_step(tree, accumulate: int) -> list:
    """The student's parameters after one optimiser step over the 12-image tree."""
    config = load_config(
        "imagenet_resnet34_resnet18_kd",
        [
            f"data.root={tree}",
            "data.batch_size=12",
            f"optim.accumulate={accumulate}",
            "run.amp=false",
            "data.workers=0",
        ],
    )
    context = DistributedContext(0, 1, torch.device("cpu"))
    info = ImageFolder.describe(tree, 8)
    data = WithIndex(ImageFolder(tree, transform=info.test_transform(), image_size=8))
    torch.manual_seed(0)
    teacher = tap(nn.Sequential(nn.Flatten(), nn.Linear(192, 3))).eval()
    student = tap(nn.Sequential(nn.Flatten(), nn.Linear(192, 3)))
    distiller = create_method("kd", **config.method.options)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.5)
    scaler = _grad_scaler(torch.device("cpu"), enabled=False)
    order = BatchOrder.of(config)
    assert train_loader(order, 0, data, context).batch_size == 12 // accumulate
    step = StudentStep(
        student,
        [teacher],
        [None],
        distiller,
        optimizer,
        scaler,
        context,
        config.run,
        "local",
        order,
        epoch=0,
    )
    train_epoch(step, data)
    return [p.detach().clone() for p in student.parameters()]


def test_gradient_accumulation_equals_one_batch(tmp_path, image_tree_writer):
    tree = image_tree_writer(tmp_path / "tree", per_class=(4, 1), size=(12, 10))
    whole = _one_step(tree, accumulate=1)
    accumulated = _one_step(tree, accumulate=3)
    for a, b in zip(whole, accumulated):
        torch.testing.assert_close(a, b)


def test_bad_accumulation_and_amp_type_are_refused():
    with pytest.raises(ValueError, match=r"divisible by 1 process\(es\) x optim.accumulate 3"):
        train_loader(
            BatchOrder.of(load_config("imagenet_resnet34_resnet18_kd", ["optim.accumulate=3"])),
            0,
            list(range(10)),
            DistributedContext(0, 1, torch.device("cpu")),
        )
    with pytest.raises(ValueError, match="run.amp_dtype must be one of auto"):
        load_config("fashion_mnist", ["run.amp_dtype=float8"])
    config = load_config("fashion_mnist", ["run.amp_dtype=float16"])
    assert autocast_dtype(config.run, torch.device("cpu")) == torch.float16
    config = load_config("fashion_mnist")
    assert autocast_dtype(config.run, torch.device("cpu")) == torch.bfloat16


def test_bfloat16_channels_last_and_compiled_backbones(tmp_path, image_tree_writer, monkeypatch):
    compiled = []
    original = nn.Module.compile

    def eager_compile(self, *args, **kwargs):  # compiling for real takes minutes on a CPU
        compiled.append(type(self).__name__)
        return original(self, backend="eager")

    monkeypatch.setattr(nn.Module, "compile", eager_compile)
    sets = _recipe_overrides(tmp_path, image_tree_writer, "resnet34")
    for value in ("run.amp_dtype=bfloat16", "run.channels_last=true", "run.compile=true"):
        sets += ["--set", value]
    assert main(["distill", "--config", "imagenet_resnet34_resnet18_kd", *sets]) == 0
    assert compiled == ["ResNet", "ResNet"]  # the student and the teacher
    state = read_training_checkpoint(tmp_path / "run" / "kd" / "last.pt")
    assert not any(key.startswith("_orig_mod.") for key in state["model"])


def test_resume_refuses_ranks_that_cannot_see_the_checkpoint(tmp_path):
    from graphkd.engine.run_checkpoint import _check_resume_on_every_rank

    class OtherMachineMisses:  # rank 1 runs on a machine without the file
        def all_gather(self, value):
            return [value, False]

    with pytest.raises(FileNotFoundError, match=r"ranks \[1\] cannot read .*last.pt"):
        _check_resume_on_every_rank((tmp_path / "last.pt", {"epoch": 1}), OtherMachineMisses())
    _check_resume_on_every_rank(None, OtherMachineMisses())  # nobody resumes: fine
