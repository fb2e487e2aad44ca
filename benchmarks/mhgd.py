"""Time and memory of an MHGD training step against a vanilla-KD step on the same models.

One step is what the trainer does per batch: the frozen teacher's forward pass (no
gradients), the student's forward pass, the loss and the backward pass. Measured on the
zoo pair resnet32x4 -> resnet8x4 with CIFAR-sized random images (default batch 64):

- ``kd``: cross-entropy (weight 0.1) + vanilla KD, the reference;
- ``mhgd transfer``: stage 2 (cross-entropy + attention-graph KL) with a plain weight
  (``gradient_clipping=False``: one ``backward``);
- ``mhgd transfer, clipped``: the same with the reference implementation's gradient
  clipping, MHGD's default (:func:`graphkd.distill.presets.mhgd.clip_transfer_gradients`:
  two gradient passes instead of one ``backward``);
- ``mhgd attention``: a stage-1 step (teacher forward + attention-network training).

Time is the median over repeats, the variants taking turns so that machine load affects
them alike; memory is, on CUDA, the peak allocated memory and, on CPU, the bytes autograd
saves for the backward pass (as ``benchmarks/presets.py`` measures). Both are reported
as ratios to ``kd`` within the run.

Run ``python benchmarks/mhgd.py --out benchmarks/results/mhgd.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F
from presets import write_table

import graphkd
from graphkd.distill.presets.mhgd import clip_transfer_gradients
from graphkd.models import create_model, tap


def channels(tapped, images: torch.Tensor) -> Dict[str, int]:
    with torch.no_grad():
        features = tapped(images[:2]).features
    return {name: int(feature.shape[1]) for name, feature in features.items()}


def build_steps(args: argparse.Namespace, device: torch.device) -> Dict[str, Callable[[], None]]:
    torch.manual_seed(0)
    teacher = tap(create_model(args.teacher)).to(device).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    student = tap(create_model(args.student)).to(device).train()
    images = torch.randn(args.batch, 3, 32, 32, device=device)
    labels = torch.randint(0, 100, (args.batch,), device=device)
    kd = graphkd.create_method("kd").to(device)
    mhgd = graphkd.create_method(
        "mhgd",
        teacher_channels=channels(teacher, images),
        student_channels=channels(student, images),
    ).to(device)

    def distil(method) -> Callable[[], Tuple[torch.Tensor, torch.Tensor]]:
        def losses() -> Tuple[torch.Tensor, torch.Tensor]:
            with torch.no_grad():
                t = teacher(images)
            s = student(images)
            return method.ce_weight * F.cross_entropy(s.logits, labels), method(t, s)["loss"]

        return losses

    def plain(method) -> Callable[[], None]:
        losses = distil(method)

        def step() -> None:
            student.zero_grad(set_to_none=True)
            ce, transfer = losses()
            (ce + transfer).backward()

        return step

    def clipped() -> None:
        student.zero_grad(set_to_none=True)
        ce, transfer = distil(mhgd)()
        clip_transfer_gradients(student.parameters(), ce, transfer, epoch=50, stage1_epochs=40)

    def attention() -> None:
        mhgd.zero_grad(set_to_none=True)
        with torch.no_grad():
            t = teacher(images)
        mhgd.stage_loss("attention", t)["loss"].backward()

    def in_stage(name: str, step: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            mhgd.set_stage(name)
            mhgd.train()
            step()

        return run

    return {
        "kd": plain(kd),
        "mhgd transfer": in_stage("transfer", plain(mhgd)),
        "mhgd transfer, clipped": in_stage("transfer", clipped),
        "mhgd attention": in_stage("attention", attention),
    }


def memory_of(step: Callable[[], None], device: torch.device) -> int:
    saved: Dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    return sum(saved.values())


def time_of(step: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    steps = build_steps(args, device)
    memory = {}
    for name, step in steps.items():  # warm-up, then memory
        step()
        memory[name] = memory_of(step, device)
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            times[name].append(time_of(step, device))
            print(f"{name}: {times[name][-1] * 1e3:.0f} ms", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    memory_kind = "peak CUDA memory" if device.type == "cuda" else "memory saved for backward"
    mib = 2**20
    rows = [
        f"Device: {device} ({torch.get_num_threads()} threads), torch {torch.__version__}; "
        f"{args.teacher} -> {args.student}, batch {args.batch}, 3x32x32 random images; "
        f"median of {args.repeats} steps (teacher forward + student forward/backward + "
        f"loss); memory = {memory_kind}.",
        "",
        "| step | ms | time / KD | MiB | memory / KD |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in steps:
        rows.append(
            f"| {name} | {medians[name] * 1e3:.0f} | {medians[name] / medians['kd']:.2f} "
            f"| {memory[name] / mib:.1f} | {memory[name] / memory['kd']:.2f} |"
        )
    table = "\n".join(rows) + "\n"
    write_table(table, args.out)


if __name__ == "__main__":
    main()
