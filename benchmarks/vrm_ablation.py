"""VRM's ablations on a protocol: each switch off in turn, over seeds, in one table.

Every switch of the ``vrm`` preset (``virtual``, ``icv``, ``prune``, ``adaptor``,
``zscore``) is turned off in a run of its own through ``benchmarks/run.py`` (output
``<results>/<protocol>_vrm_no_<switch>``), distilling from the protocol's trained
teacher; the table sets them beside the full method and the baselines of the protocol's
``results.md`` run (``<results>/<protocol>``, which must hold ``ce`` and ``vrm``).
Finished runs are skipped, so a rerun only rebuilds the table.

The distillation protocol of ``benchmarks/run.py`` has these ablations as rows of its own
(``vrm_no_<switch>``, paired with the other rows); this script rebuilds the table of the
earlier ``fashion_mnist`` runs.

Example::

    python benchmarks/run.py --config fashion_mnist --output benchmarks/results/fashion_mnist \
        --seeds 0 1 2 --rows ce kd rkd dist vrm
    python benchmarks/vrm_ablation.py --out benchmarks/results/fashion_mnist_vrm_ablation.md
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Dict, List

import compare
import run

SWITCHES = ("virtual", "icv", "prune", "adaptor", "zscore")
BASELINES = ("ce", "kd", "rkd", "dist")


def final_accuracies(folder: Path, method: str, seeds: List[int]) -> List[float]:
    """Final top-1 (%) of the finished ``seed<s>/<method>`` runs under ``folder``."""
    return compare.last_accuracies(compare.Row(method, folder, method), seeds)


def table(rows: Dict[str, List[float]], reference: str) -> str:
    base = statistics.mean(rows[reference])
    lines = [
        f"| run | top-1 (%) mean +- std | seeds | vs {reference} |",
        "| --- | --- | --- | --- |",
    ]
    for name, values in rows.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        mean = statistics.mean(values)
        lines.append(
            f"| {name} | {mean:.2f} +- {spread:.2f} | {len(values)} | {mean - base:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="fashion_mnist")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--protocol", default="fashion_mnist", help="folder name of the base run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--switches", nargs="+", default=list(SWITCHES), choices=SWITCHES)
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    base = args.results / args.protocol
    for switch in args.switches:
        run.main(
            [
                "--config",
                args.config,
                "--methods",
                "vrm",
                "--seeds",
                *map(str, args.seeds),
                "--teacher",
                str(base / "teacher"),
                "--set",
                f"method.options.{switch}=false",
                "--output",
                str(args.results / f"{args.protocol}_vrm_no_{switch}"),
            ]
        )
    rows = {"vrm": final_accuracies(base, "vrm", args.seeds)}
    for switch in args.switches:
        folder = args.results / f"{args.protocol}_vrm_no_{switch}"
        rows[f"vrm, {switch} off"] = final_accuracies(folder, "vrm", args.seeds)
    for method in BASELINES:
        if (base / f"seed{args.seeds[0]}" / method / "model.pt").is_file():
            rows[method] = final_accuracies(base, method, args.seeds)
    text = table(rows, "vrm")
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
