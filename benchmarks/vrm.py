"""Time and memory of VRM's loss: the memory-light Gram path against the explicit edges.

For batch sizes B and class counts C this measures one forward + backward pass of the
``vrm`` preset's loss (logit adaptor, z-score, pruning, ISV and ICV terms) computed three
ways on the same batch:

- gram: graphkd's default for the MSE metric, from B x B and C x C Gram matrices;
- explicit: graphkd's explicit-edge path (B^2 x C and C^2 x B edge features, matched by
  the MSE match terms);
- dense: the plain PyTorch broadcast formulation written independently in
  tests/distill/test_vrm.py (``dense_vrm``).

Time is the median over repeats; memory is, on CUDA, the peak allocated memory and, on
CPU, the bytes autograd saves for the backward pass, measured by ``measure`` of
benchmarks/presets.py. The explicit and dense formulations are skipped where their edge
tensors alone would exceed ``--dense-limit-gib``.

Run ``python benchmarks/vrm.py --out benchmarks/results/vrm.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Callable, List, Optional, Tuple

import torch

import graphkd
from graphkd import Responses

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_presets = load("presets_benchmark", ROOT / "benchmarks/presets.py")
measure, write_table = _presets.measure, _presets.write_table
dense_vrm = load("vrm_tests", ROOT / "tests/distill/test_vrm.py").dense_vrm


def two_views(responses: Responses) -> Responses:
    """``measure`` makes (B, C) logits and (B, C) embeddings: the embeddings stand in for
    the virtual view's logits."""
    return Responses(responses.logits, virtual=Responses(responses.embedding))


def formulations(batch: int, classes: int, device: torch.device):
    distiller = graphkd.create_method("vrm", num_classes=classes).to(device)
    adaptor = distiller.student_builder.adaptor
    torch.nn.init.normal_(adaptor.out.weight, std=0.01)  # a trained, non-identity adaptor

    def with_path(path: str) -> Callable:
        def loss(teacher: Responses, student: Responses):
            distiller.path = path
            return distiller(two_views(teacher), two_views(student))["loss"]

        return loss

    def dense(teacher: Responses, student: Responses):
        return dense_vrm(two_views(teacher), two_views(student), adaptor)["loss"]

    return {"gram": with_path("gram"), "explicit": with_path("explicit"), "dense": dense}


def edge_gib(batch: int, classes: int) -> float:
    """Size of one float32 copy of the ISV and ICV edge features."""
    return 4 * (batch * batch * classes + classes * classes * batch) / 2**30


def cell(result: Optional[Tuple[float, int]], index: int, scale: float, fmt: str) -> str:
    return "skipped" if result is None else format(result[index] * scale, fmt)


def ratio(a: Optional[Tuple[float, int]], b: Optional[Tuple[float, int]], index: int) -> str:
    return "-" if a is None or b is None else f"{a[index] / max(b[index], 1e-12):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--classes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dense-limit-gib", type=float, default=1.5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    memory_kind = "peak CUDA memory" if device.type == "cuda" else "memory saved for backward"
    rows: List[str] = [
        f"Device: {device} ({torch.get_num_threads()} threads), torch {torch.__version__}; "
        f"memory = {memory_kind}; median of {args.repeats} forward+backward passes; "
        f"explicit and dense skipped above {args.dense_limit_gib} GiB of edge features.",
        "",
        "| B | C | gram ms | explicit ms | dense ms | gram MiB | explicit MiB | dense MiB "
        "| time gram/explicit | time gram/dense | memory gram/explicit | memory gram/dense |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for batch in args.batches:
        for classes in args.classes:
            results = {}
            for name, loss in formulations(batch, classes, device).items():
                if name != "gram" and edge_gib(batch, classes) > args.dense_limit_gib:
                    results[name] = None
                    continue
                results[name] = measure(loss, batch, classes, device, args.repeats)
            gram, explicit, dense = results["gram"], results["explicit"], results["dense"]
            rows.append(
                f"| {batch} | {classes} | {cell(gram, 0, 1e3, '.2f')} "
                f"| {cell(explicit, 0, 1e3, '.2f')} | {cell(dense, 0, 1e3, '.2f')} "
                f"| {cell(gram, 1, 1 / MIB, '.2f')} | {cell(explicit, 1, 1 / MIB, '.2f')} "
                f"| {cell(dense, 1, 1 / MIB, '.2f')} | {ratio(gram, explicit, 0)} "
                f"| {ratio(gram, dense, 0)} | {ratio(gram, explicit, 1)} | {ratio(gram, dense, 1)} |"
            )
            print(rows[-1], flush=True)
    table = "\n".join(rows) + "\n"
    write_table(table, args.out)


if __name__ == "__main__":
    main()
