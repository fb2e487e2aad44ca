"""Run a protocol over methods x seeds and collect a results table and plots.

Each training run is its own ``python -m graphkd`` subprocess. The teacher is trained
once (seed 0) and shared; every (method, seed) student then distils from it. Finished
runs (their ``model.pt`` exists) are skipped and interrupted ones resume from their last
checkpoint, so rerunning the same command continues where it stopped.

Outputs in ``--output``: ``results.md`` (final top-1 mean +- std over seeds, gain over
the cross-entropy student, seconds per epoch), ``curves.png`` (test accuracy per epoch,
mean over seeds) and ``bars.png``.

Example::

    python benchmarks/run.py --config fashion_mnist --methods ce kd rkd dist --seeds 0 1 2 \
        --output benchmarks/results/fashion_mnist

An ablation reuses a trained teacher (``--teacher``: the folder holding its ``model.pt``
and ``metrics.csv``) and changes method options with ``--set``::

    python benchmarks/run.py --methods vrm --teacher benchmarks/results/fashion_mnist/teacher \
        --set method.options.prune=false --output benchmarks/results/fashion_mnist_vrm_prune
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

CROSS_ENTROPY = "ce"


def run(command: List[str]) -> None:
    print("+ " + " ".join(command), flush=True)
    subprocess.run([sys.executable, "-m", "graphkd", *command], check=True)


def train(kind: List[str], folder: Path, overrides: List[str]) -> None:
    """Run one training unless ``folder`` holds a finished model; resume a started one."""
    if (folder / "model.pt").exists():
        print(f"= {folder} is finished, skipped", flush=True)
        return
    # --resume continues a started run, and starts one afresh when it has no checkpoint
    run([*kind, "--resume", *(f"--set={o}" for o in overrides)])


def read_metrics(folder: Path) -> List[Dict[str, float]]:
    with open(folder / "metrics.csv", newline="") as handle:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(handle)
        ]


def summarise(
    runs: Dict[str, Dict[int, List[Dict[str, float]]]], teacher: List[Dict[str, float]]
) -> str:
    final = {m: [rows[-1]["test_acc"] for rows in seeds.values()] for m, seeds in runs.items()}
    baseline = statistics.mean(final[CROSS_ENTROPY]) if CROSS_ENTROPY in final else None
    lines = [
        f"Teacher: {teacher[-1]['test_acc']:.2f}% top-1.",
        "",
        "| method | top-1 (%) mean +- std | seeds | gain over CE | s / epoch |",
        "| --- | --- | --- | --- | --- |",
    ]
    for method, accuracies in final.items():
        mean = f"{statistics.mean(accuracies):.2f}"
        # one seed has no spread to show: "+- 0.00" would claim a measured zero
        if len(accuracies) > 1:
            mean += f" +- {statistics.stdev(accuracies):.2f}"
        gain = "" if baseline is None else f"{statistics.mean(accuracies) - baseline:+.2f}"
        seconds = statistics.mean(row["seconds"] for rows in runs[method].values() for row in rows)
        lines.append(f"| {method} | {mean} | {len(accuracies)} | {gain} | {seconds:.1f} |")
    return "\n".join(lines) + "\n"


def plot(runs: Dict[str, Dict[int, List[Dict[str, float]]]], output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axis = plt.subplots(figsize=(6, 4))
    for method, seeds in runs.items():
        epochs = min(len(rows) for rows in seeds.values())
        mean = [
            statistics.mean(rows[e]["test_acc"] for rows in seeds.values()) for e in range(epochs)
        ]
        axis.plot(range(1, epochs + 1), mean, marker="o", label=method)
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
    axis.set_ylabel("test top-1 (%)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(output / "curves.png", dpi=120)
    figure, axis = plt.subplots(figsize=(6, 4))
    names = list(runs)
    finals = [[rows[-1]["test_acc"] for rows in runs[m].values()] for m in names]
    axis.bar(
        names,
        [statistics.mean(f) for f in finals],
        yerr=[statistics.stdev(f) if len(f) > 1 else 0 for f in finals],
        capsize=4,
    )
    low = max(0, min(min(f) for f in finals) - 5)
    axis.set_ylim(low, None)  # zoomed in: the bars start at `low`, not at 0, as labelled
    axis.set_ylabel(f"final test top-1 (%), axis from {low:.0f}")
    figure.tight_layout()
    figure.savefig(output / "bars.png", dpi=120)


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", default="fashion_mnist", help="shipped config name or YAML path"
    )
    parser.add_argument("--methods", nargs="+", default=[CROSS_ENTROPY, "kd", "rkd", "dist"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/fashion_mnist"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--teacher",
        type=Path,
        help="folder of a trained teacher (model.pt, metrics.csv) to reuse instead of training",
    )
    args = parser.parse_args(argv)
    output = args.output.resolve()
    common = [*args.overrides]
    if args.teacher is None:
        teacher_dir = output / "teacher"
        train(
            ["train-teacher", "--config", args.config],
            teacher_dir,
            [*common, f"run.output={output}", "run.seed=0"],
        )
    else:
        teacher_dir = args.teacher.resolve()
        if not (teacher_dir / "model.pt").exists():
            parser.error(f"--teacher {teacher_dir} holds no model.pt; train the teacher first")
    teacher_model = teacher_dir / "model.pt"
    runs: Dict[str, Dict[int, List[Dict[str, float]]]] = {}
    for method in args.methods:
        for seed in args.seeds:
            seed_dir = output / f"seed{seed}"
            train(
                ["distill", "--config", args.config, "--method", method],
                seed_dir / method,
                [
                    *common,
                    f"run.output={seed_dir}",
                    f"run.seed={seed}",
                    f"model.teacher_checkpoint={teacher_model}",
                ],
            )
            runs.setdefault(method, {})[seed] = read_metrics(seed_dir / method)
    table = summarise(runs, read_metrics(teacher_dir))
    (output / "results.md").write_text(table)
    plot(runs, output)
    print(table)


if __name__ == "__main__":
    main()
