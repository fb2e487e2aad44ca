"""Time and memory of each preset's loss against a plain dense PyTorch formulation.

For every preset, batch size B and width (classes C for logit methods, embedding width D
for embedding methods) this measures one forward + backward of the loss alone:

- time: median over repeats, as a ratio to the dense formulation of the same loss
  (written independently in tests/distill/references.py) and to vanilla KD on the same
  batch;
- memory: on CUDA the peak allocated memory; on CPU the bytes autograd saves for the
  backward pass (deterministic, and what dominates a loss's footprint), as ratios too.

Run ``python benchmarks/presets.py --out benchmarks/results/presets.md``; the table is
copied into docs/benchmarks.rst.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

import graphkd
from graphkd import Responses
from graphkd.distill.methods import method_arguments

ROOT = Path(__file__).resolve().parents[1]
EMBEDDING_METHODS = {"rkd", "sp", "cc", "pkt"}
CUBIC_METHODS = {"rkd"}  # B^3 angle tensors: skipped above this batch size
CUBIC_LIMIT = 256


def load_references() -> Dict[str, Callable]:
    spec = importlib.util.spec_from_file_location(
        "references", ROOT / "tests/distill/references.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.REFERENCES


def make_pair(batch: int, width: int, device: torch.device):
    def make(requires_grad: bool) -> Responses:
        embedding = torch.randn(batch, width, device=device, requires_grad=requires_grad)
        return Responses(
            logits=torch.randn(batch, width, device=device, requires_grad=requires_grad),
            embedding=embedding,
            features={"last_stage": embedding[:, :, None, None]},  # SP's default input
        )

    return make(False), make(True)


def measure(loss_fn: Callable, batch: int, width: int, device: torch.device, repeats: int):
    teacher, student = make_pair(batch, width, device)
    saved: Dict[int, int] = {}

    def pack(tensor):
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    for _ in range(2):  # warm-up
        loss_fn(teacher, student).backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(teacher, student).backward()
    memory = torch.cuda.max_memory_allocated() if device.type == "cuda" else sum(saved.values())
    times: List[float] = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss_fn(teacher, student).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), memory


def write_table(table: str, out: Optional[Path]) -> None:
    """Print a results table and, when ``out`` is given, write it there."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)
    print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--widths", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    references = load_references()
    methods = args.methods or [m for m in graphkd.list_methods() if m in references]
    memory_kind = "peak CUDA memory" if device.type == "cuda" else "memory saved for backward"
    rows = [
        f"Device: {device} ({torch.get_num_threads()} threads), torch {torch.__version__}; "
        f"memory = {memory_kind}; median of {args.repeats} forward+backward passes.",
        "",
        "| method | B | C or D | graphkd ms | dense ms | time / dense | time / KD "
        "| graphkd MiB | dense MiB | memory / dense | memory / KD |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for batch in args.batches:
        for width in args.widths:
            kd_time, kd_memory = measure(
                lambda t, s: graphkd.create_method("kd")(t, s)["loss"],
                batch,
                width,
                device,
                args.repeats,
            )
            for name in methods:
                if name in CUBIC_METHODS and batch > CUBIC_LIMIT:
                    continue
                widths = method_arguments(name, {"teacher_dim": width, "student_dim": width})
                distiller = graphkd.create_method(name, **widths).to(device)
                ours_time, ours_memory = measure(
                    lambda t, s, d=distiller: d(t, s)["loss"], batch, width, device, args.repeats
                )
                dense_time, dense_memory = measure(
                    lambda t, s, d=distiller, f=references[name]: f(t, s, d),
                    batch,
                    width,
                    device,
                    args.repeats,
                )
                mib = 2**20
                rows.append(
                    f"| {name} | {batch} | {width} | {ours_time * 1e3:.2f} | {dense_time * 1e3:.2f} "
                    f"| {ours_time / dense_time:.2f} | {ours_time / kd_time:.2f} "
                    f"| {ours_memory / mib:.2f} | {dense_memory / mib:.2f} "
                    f"| {ours_memory / max(dense_memory, 1):.2f} | {ours_memory / max(kd_memory, 1):.2f} |"
                )
                print(rows[-1], flush=True)
    table = "\n".join(rows) + "\n"
    write_table(table, args.out)


if __name__ == "__main__":
    main()
