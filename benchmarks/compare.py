"""Compare finished runs from several output folders, paired over seeds.

An ablation changes one option in a folder of its own (``benchmarks/run.py --set ...
--output <folder>``); this script sets such runs side by side. Each argument names one
row, ``NAME=FOLDER:METHOD[,vs=OTHER]``: the runs ``FOLDER/seed<s>/METHOD`` of the given
seeds (as ``benchmarks/run.py`` lays them out), compared with row ``OTHER`` (default:
the first row) by the mean of the per-seed differences and its 95% t interval, ``*``
where it excludes 0. Rows must share the seeds' paired design (same config, teacher and
seeds) for the differences to be paired.

Example (HKD's ablations on the ``fashion_mnist`` config)::

    R=benchmarks/results
    python benchmarks/compare.py --seeds 0 1 2 --out $R/fashion_mnist_hkd_ablation.md \\
        ce=$R/fashion_mnist:ce hkd=$R/fashion_mnist:hkd \\
        momentum_0.5=$R/fashion_mnist_hkd_momentum_0.5:hkd \\
        ce_15_epochs=$R/fashion_mnist_hkd_15_epochs:ce \\
        hkd_15_epochs=$R/fashion_mnist_hkd_15_epochs:hkd,vs=ce_15_epochs
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import run
import stats


@dataclass(frozen=True)
class Row:
    """One line of the table: ``method``'s runs in ``folder``, compared with row ``vs``."""

    name: str
    folder: Path
    method: str
    vs: Optional[str] = None


def parse_row(text: str) -> Row:
    """``NAME=FOLDER:METHOD[,vs=OTHER]`` -> :class:`Row`."""
    name, sep, rest = text.partition("=")
    where, _, option = rest.partition(",")
    folder, colon, method = where.rpartition(":")
    if not (sep and name and colon and folder and method) or (
        option and not option.startswith("vs=")
    ):
        raise ValueError(
            f"row {text!r} is not NAME=FOLDER:METHOD[,vs=OTHER], e.g. "
            "hkd=benchmarks/results/fashion_mnist:hkd"
        )
    return Row(name, Path(folder), method, option.removeprefix("vs=") or None)


def last_accuracies(row: Row, seeds: Sequence[int]) -> List[float]:
    """Last-epoch top-1 (%) of ``row``'s finished runs (:func:`run.finished`), one per seed."""
    runs = [row.folder / f"seed{seed}" / row.method for seed in seeds]
    missing = [str(r) for r in runs if not run.finished(r)]
    if missing:
        raise FileNotFoundError(
            f"unfinished or missing runs: {', '.join(missing)}; finish them first"
        )
    return [run.read_metrics(r)[-1]["test_acc"] for r in runs]


def table(rows: Sequence[Row], seeds: Sequence[int]) -> str:
    """Markdown: per row the mean +- std and the paired difference to its reference."""
    values: Dict[str, List[float]] = {row.name: last_accuracies(row, seeds) for row in rows}
    lines = [
        f"Seeds: {', '.join(map(str, seeds))}. Top-1 (%) after the last epoch; differences "
        "paired over seeds with 95% t intervals, * where the interval excludes 0.",
        "",
        "| row | top-1, mean +- std | vs | difference [95% CI] |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        own = stats.mean_interval(values[row.name])
        other = row.vs or rows[0].name
        if other not in values:
            raise ValueError(f"row {row.name!r} is compared with {other!r}, which is no row")
        cell = ""
        if other != row.name and len(seeds) > 1:  # one seed has no interval
            cell = run.difference_cell(stats.paired_difference(values[row.name], values[other]))
        lines.append(
            f"| {row.name} | {run.spread(own)} | {'' if other == row.name else other} | {cell} |"
        )
    folders = {row.name: [row.folder / f"seed{s}" / row.method for s in seeds] for row in rows}
    return "\n".join(lines) + "\n\n" + run.code_note(folders)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rows", nargs="+", metavar="NAME=FOLDER:METHOD[,vs=OTHER]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, help="write the table here")
    args = parser.parse_args(argv)
    try:
        rows = [parse_row(text) for text in args.rows]
        text = table(rows, args.seeds)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
