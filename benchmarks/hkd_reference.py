"""HKD step for step beside the reference implementation, for a few hundred steps.

Runs ``side_by_side`` of tests/distill/test_hkd_reference.py: the authors' HKD code
(wyc-ruiker/HKD ``distiller_zoo/GNN.py``, ported in that test file) and graphkd's
``HKDDistiller`` train the same tiny student (a linear layer with tanh features and a
linear classifier) against the same fixed teacher, from the same initialisation (embed
heads, TAGConv layers and memory banks copied), on the same batches with the same
negatives (drawn as the reference's dataset draws them), with one SGD optimiser each
(lr 0.05, momentum 0.9, weight decay 5e-4, as the reference's ``train_student.py``).

For each range of steps it prints the largest absolute difference between the two of
each loss term (the loss without cross-entropy, the individual and the graph term, and
KD with ``--alpha 1``), of the two banks after the step, and of all trained weights
(student and heads), plus the number of steps whose kNN graphs differ and the
reference's mean terms, so that the differences can be read against the values.

The default sizes make every 32nd batch 6 samples, fewer than k = 8, where both skip
the graph term and the bank update.

Run ``python benchmarks/hkd_reference.py --steps 300`` (float64, HKD and HKD+KD, under
two minutes each on one CPU thread); ``--dtype float64 float32`` adds the reference's own
precision, ``--out FILE`` writes the tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from types import ModuleType
from typing import Dict, List

import torch

ROOT = Path(__file__).resolve().parents[1]


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table(rows: List[Dict[str, float]], span: int, alpha: float) -> str:
    terms = ["loss", "individual", "graph"] + (["kd"] if alpha else [])
    columns = terms + ["bank_s", "bank_t", "weights"]
    head = ["steps"] + columns + ["kNN graphs differ", "mean individual", "mean graph"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for start in range(0, len(rows), span):
        part = rows[start : start + span]
        full = [row for row in part if row["value_graph"] > 0]
        cells = [f"{start + 1}-{start + len(part)}"]
        cells += [f"{max(row[name] for row in part):.1e}" for name in columns]
        cells.append(str(int(sum(row["edges"] for row in part))))
        cells.append(f"{sum(row['value_individual'] for row in part) / len(part):.2f}")
        cells.append(f"{sum(row['value_graph'] for row in full) / max(len(full), 1):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(port: ModuleType, args: argparse.Namespace, alpha: float, dtype: str) -> str:
    begin = time.perf_counter()
    rows = port.side_by_side(
        args.steps,
        num_samples=args.num_samples,
        classes=args.classes,
        in_dim=32,
        teacher_dim=64,
        student_dim=32,
        feat_dim=args.feat_dim,
        nce_k=args.nce_k,
        batch_size=args.batch_size,
        alpha=alpha,
        seed=args.seed,
        dtype=getattr(torch, dtype),
    )
    seconds = time.perf_counter() - begin
    small = sum(row["batch"] < port.knn for row in rows)
    name = "hkd_kd" if alpha else "hkd"
    return (
        f"{name} (alpha {alpha:g}), {dtype}, {args.steps} steps: N {args.num_samples}, "
        f"{args.classes} classes, batch {args.batch_size} ({small} batches smaller than "
        f"k), K {args.nce_k}, D {args.feat_dim}, seed {args.seed}; {seconds:.0f} s. "
        "Largest absolute differences, graphkd - reference:\n\n" + table(rows, args.span, alpha)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--span", type=int, default=50, help="steps per row of the table")
    parser.add_argument(
        "--alpha", type=float, nargs="+", default=[0.0, 1.0], help="KD weights (1: HKD+KD)"
    )
    parser.add_argument("--dtype", choices=["float64", "float32"], nargs="+", default=["float64"])
    parser.add_argument("--num-samples", type=int, default=1990)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--nce-k", type=int, default=256)
    parser.add_argument("--feat-dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    port = load("hkd_reference_port", ROOT / "tests/distill/test_hkd_reference.py")
    parts = []
    for dtype in args.dtype:
        for alpha in args.alpha:
            parts.append(run(port, args, alpha, dtype))
            print(parts[-1] + "\n", flush=True)
    if args.out is not None:
        header = (
            f"torch {torch.__version__}, {args.threads} CPU thread(s); "
            "python benchmarks/hkd_reference.py (see its docstring)."
        )
        args.out.write_text("\n\n".join([header, *parts]) + "\n")


if __name__ == "__main__":
    main()
