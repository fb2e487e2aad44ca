"""Whole distillation steps of every method, as ratios to vanilla KD with the same models.

One step is what the trainer does per batch: the frozen teacher's forward, the student's
forward, cross-entropy plus the method's loss, the backward pass, and the method's
``after_step`` (memory banks). Methods that ask for a virtual view get both views
through both networks, as in training (the teacher's through
:func:`graphkd.engine.training_views.teacher_responses`). Methods with a distiller-only first stage are
measured in their student stage. All methods take turns within one run, so the ratios
are comparable even on a busy machine. Memory: the bytes autograd saves for the backward
pass on CPU, peak allocated memory on CUDA, plus the distiller's buffers (memory banks).

Run ``python benchmarks/steps.py --out benchmarks/results/steps.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F
from presets import write_table
from torch import nn

import graphkd
from graphkd.data import dataset_info
from graphkd.distill import method_arguments
from graphkd.engine.method_setup import probe_widths
from graphkd.engine.training_views import teacher_responses
from graphkd.models import create_model, tap


def build_steps(
    args: argparse.Namespace, device: torch.device
) -> Dict[str, Tuple[Callable[[], None], nn.Module]]:
    """``{method: (step, distiller)}`` on one fixed random batch."""
    torch.manual_seed(0)
    info = dataset_info("cifar100")
    teacher = tap(create_model(args.teacher)).to(device).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    student = tap(create_model(args.student)).to(device).train()
    images = torch.randn(args.batch, 3, 32, 32, device=device)
    virtual = torch.randn(args.batch, 3, 32, 32, device=device)
    labels = torch.randint(0, 100, (args.batch,), device=device)
    index = torch.arange(args.batch, device=device)
    known = {
        "num_samples": args.num_samples,
        "num_classes": 100,
        "labels": torch.randint(0, 100, (args.num_samples,), device=device),
        **probe_widths(teacher, info, device, "teacher"),
        **probe_widths(student, info, device, "student"),
    }
    steps = {}
    for name in args.methods:
        options = {"nce_k": args.nce_k} if name.startswith("hkd") else {}
        method = graphkd.create_method(name, **method_arguments(name, known), **options).to(device)
        if hasattr(method, "set_stage"):
            method.set_stage(method.stages()[-1].name)
        steps[name] = (make_step(method, teacher, student, images, virtual, labels, index), method)
    return steps


def make_step(method, teacher, student, images, virtual, labels, index) -> Callable[[], None]:
    two_views = getattr(method, "needs_virtual_view", False)
    second = virtual if two_views else None

    def step() -> None:
        student.zero_grad(set_to_none=True)
        with torch.no_grad():
            t = teacher_responses(teacher, images, second)
        s = student(images)
        if two_views:
            s = dataclasses.replace(s, virtual=student(virtual))
        t, s = (dataclasses.replace(r, labels=labels, index=index) for r in (t, s))
        ce = F.cross_entropy(s.logits, labels)
        if two_views and getattr(method, "ce_on_virtual_view", False):
            ce = ce + F.cross_entropy(s.virtual.logits, labels)
        (method.ce_weight * ce + method(t, s)["loss"]).backward()
        if hasattr(method, "after_step"):
            with torch.no_grad():
                method.after_step(t, s.detach())

    return step


def memory_of(step: Callable[[], None], method_buffers: int) -> int:
    saved: Dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(saved.values()) + method_buffers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--methods", nargs="+", default=graphkd.list_methods())
    parser.add_argument("--num-samples", type=int, default=50000, help="memory-bank rows")
    parser.add_argument("--nce-k", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device("cpu")
    steps = build_steps(args, device)
    if "kd" not in steps:
        raise ValueError("include kd among --methods: it is the reference")
    for step, _ in steps.values():  # warm-up
        step()
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, (step, _) in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    memory = {
        name: memory_of(step, sum(b.numel() * b.element_size() for b in method.buffers()))
        for name, (step, method) in steps.items()
    }
    mib = 2**20
    rows = [
        f"{args.teacher} -> {args.student}, batch {args.batch}, CPU ({torch.get_num_threads()} "
        f"threads), median of {args.repeats} steps taken in turns; memory = bytes saved for "
        "backward + the method's buffers.",
        "",
        "| method | step ms | time / KD | memory MiB | memory / KD |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in steps:
        rows.append(
            f"| {name} | {medians[name] * 1e3:.0f} | {medians[name] / medians['kd']:.2f} "
            f"| {memory[name] / mib:.1f} | {memory[name] / memory['kd']:.2f} |"
        )
    write_table("\n".join(rows) + "\n", args.out)


if __name__ == "__main__":
    main()
