"""Whole distillation steps of every method, as ratios to vanilla KD with the same models.

One step is what the trainer does per batch: the frozen teacher's forward, the student's
forward, cross-entropy plus the method's loss, the backward pass, and the method's
``after_step`` (memory banks). Methods that ask for a virtual view get both views
through both networks, as in training (the teacher's through
:func:`graphkd.engine.training_views.teacher_responses`). Methods with a distiller-only first stage are
measured in their student stage. All methods take turns within one run, so the ratios
are comparable even on a busy machine. Memory: the bytes autograd saves for the backward
pass on CPU, on CUDA the step's peak allocated memory above what was allocated before it;
plus the distiller's buffers (memory banks). With ``--amp`` the networks run under
autocast as the trainer's ``run.amp`` has them (float16 on CUDA, bfloat16 on CPU) and the
method's loss in float32.

Run ``python benchmarks/steps.py --out benchmarks/results/steps.md``
(``--device cuda --amp`` on a GPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from contextlib import nullcontext
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

CPU = torch.device("cpu")


def build_steps(
    args: argparse.Namespace, device: torch.device, amp: bool = False
) -> Dict[str, Tuple[Callable[[], None], nn.Module]]:
    """``{method: (step, distiller)}`` on one fixed random batch (``amp``: networks under
    autocast)."""
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
        step = make_step(method, teacher, student, images, virtual, labels, index, amp)
        steps[name] = (step, method)
    return steps


def make_step(
    method, teacher, student, images, virtual, labels, index, amp=False
) -> Callable[[], None]:
    two_views = getattr(method, "needs_virtual_view", False)
    second = virtual if two_views else None
    # the trainer's run.amp_dtype "auto": float16 on CUDA, bfloat16 elsewhere
    half = torch.float16 if images.device.type == "cuda" else torch.bfloat16
    networks = torch.autocast(images.device.type, dtype=half) if amp else nullcontext()

    def step() -> None:
        student.zero_grad(set_to_none=True)
        with networks:
            with torch.no_grad():
                t = teacher_responses(teacher, images, second)
            s = student(images)
            if two_views:
                s = dataclasses.replace(s, virtual=student(virtual))
            ce = F.cross_entropy(s.logits, labels)
            if two_views and getattr(method, "ce_on_virtual_view", False):
                ce = ce + F.cross_entropy(s.virtual.logits, labels)
        t, s = (
            dataclasses.replace(r.map(lambda x: x.float()), labels=labels, index=index)
            for r in (t, s)
        )
        (method.ce_weight * ce.float() + method(t, s)["loss"]).backward()
        if hasattr(method, "after_step"):
            with torch.no_grad():
                method.after_step(t, s.detach())

    return step


def memory_of(step: Callable[[], None], method_buffers: int, device: torch.device = CPU) -> int:
    """Bytes one ``step`` needs: see the module's docstring."""
    if device.type == "cuda":
        synchronise(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        synchronise(device)
        return torch.cuda.max_memory_allocated(device) - before + method_buffers
    saved: Dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(saved.values()) + method_buffers


def synchronise(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    steps: Dict[str, Tuple[Callable[[], None], nn.Module]], repeats: int, device: torch.device
) -> Dict[str, float]:
    """Median seconds of each step over ``repeats`` rounds in which the methods take turns
    (on CUDA each step is timed to its last kernel)."""
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, (step, _) in steps.items():
            synchronise(device)
            start = time.perf_counter()
            step()
            synchronise(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def steps_memory(
    steps: Dict[str, Tuple[Callable[[], None], nn.Module]], device: torch.device
) -> Dict[str, int]:
    """Bytes of each step (:func:`memory_of`), the method's buffers included."""
    return {
        name: memory_of(step, sum(b.numel() * b.element_size() for b in method.buffers()), device)
        for name, (step, method) in steps.items()
    }


def steps_table(
    caption: str, medians: Dict[str, float], memory: Dict[str, int], reference: str = "kd"
) -> str:
    """The markdown table of step times and memory, each also as a ratio to ``reference``."""
    mib = 2**20
    rows = [
        caption,
        "",
        "| method | step ms | time / KD | memory MiB | memory / KD |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in medians:
        rows.append(
            f"| {name} | {medians[name] * 1e3:.0f} | {medians[name] / medians[reference]:.2f} "
            f"| {memory[name] / mib:.1f} | {memory[name] / memory[reference]:.2f} |"
        )
    return "\n".join(rows) + "\n"


def steps_caption(args: argparse.Namespace, device: torch.device, amp: bool, repeats: int) -> str:
    """What the table measured: models, batch, device, AMP, repeats and the memory rule."""
    if device.type == "cuda":
        where, half = torch.cuda.get_device_name(device), "float16"
        held = "peak allocated memory of the step above what it started with"
    else:
        where, half = f"CPU ({torch.get_num_threads()} threads)", "bfloat16"
        held = "bytes saved for backward"
    precision = f", AMP on (networks in {half}, the method's loss in float32)" if amp else ""
    return (
        f"{args.teacher} -> {args.student}, batch {args.batch}, {where}{precision}, median of "
        f"{repeats} steps taken in turns; memory = {held} + the method's buffers."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--methods", nargs="+", default=graphkd.list_methods())
    parser.add_argument("--num-samples", type=int, default=50000, help="memory-bank rows")
    parser.add_argument("--nce-k", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--amp", action="store_true", help="networks under autocast")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    steps = build_steps(args, device, args.amp)
    if "kd" not in steps:
        raise ValueError("include kd among --methods: it is the reference")
    for step, _ in steps.values():  # warm-up
        step()
    medians = time_steps(steps, args.repeats, device)
    memory = steps_memory(steps, device)
    caption = steps_caption(args, device, args.amp, args.repeats)
    write_table(steps_table(caption, medians, memory), args.out)


if __name__ == "__main__":
    main()
