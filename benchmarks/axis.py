"""Paired gains along an axis (schedule length, training images, student size): table, plot.

Each point of the axis is one output folder of ``benchmarks/run.py`` (``LABEL=FOLDER``),
trained with one setting changed and the same teacher, seeds and paired design. At every
point each row is compared with each reference row *of the same folder* (default ``ce``
and ``kd``): the mean of the per-seed differences ``row_s - reference_s`` with its 95% t
interval (:mod:`stats`), ``*`` where it excludes 0. So a row's gain at 60 epochs is
measured against CE trained 60 epochs, not against the 15-epoch CE.

Outputs: ``<out>.md`` (per row and point the top-1 mean +- std, the difference to each
reference and the minutes per run, every stage of a run counted) and ``<out>.png`` (one
panel per reference: difference against the axis, one line per row, 95% intervals).

The schedule axis of the Fashion-MNIST protocol::

    R=benchmarks/results
    python benchmarks/axis.py --axis "epochs" --rows kd hkd hkd_kd --seeds 0 1 2 \\
        --out $R/schedule_axis 15=$R/fashion_mnist_protocol \\
        30=$R/fashion_mnist_protocol_30_epochs 60=$R/fashion_mnist_protocol_60_epochs
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import compare
import run
import stats


@dataclass(frozen=True)
class Point:
    """One point of the axis: its ``label`` and the run folder trained there."""

    label: str
    folder: Path


def parse_point(text: str) -> Point:
    """``LABEL=FOLDER`` -> :class:`Point`."""
    label, sep, folder = text.partition("=")
    if not (sep and label and folder):
        raise ValueError(
            f"point {text!r} is not LABEL=FOLDER, e.g. 30=benchmarks/results/"
            "fashion_mnist_protocol_30_epochs"
        )
    return Point(label, Path(folder))


@dataclass(frozen=True)
class Cell:
    """One row at one point: its accuracies per seed, differences and minutes per run."""

    accuracy: stats.Interval
    differences: Dict[str, Optional[stats.Interval]]
    minutes: float


def measure(
    points: Sequence[Point], rows: Sequence[str], references: Sequence[str], seeds: Sequence[int]
) -> Dict[Tuple[str, str], Cell]:
    """``{(row, label): Cell}`` for every row (references included) at every point."""
    cells = {}
    for point in points:
        values = {
            name: compare.last_accuracies(compare.Row(name, point.folder, name), seeds)
            for name in dict.fromkeys([*references, *rows])
        }
        for name, accuracies in values.items():
            differences = {
                reference: stats.paired_difference(accuracies, values[reference])
                if reference != name
                else None
                for reference in references
            }
            minutes = statistics.fmean(
                run.run_minutes(point.folder / f"seed{seed}" / name) for seed in seeds
            )
            cells[name, point.label] = Cell(stats.mean_interval(accuracies), differences, minutes)
    return cells


def table(
    cells: Dict[Tuple[str, str], Cell],
    points: Sequence[Point],
    references: Sequence[str],
    axis: str,
    seeds: Sequence[int],
    command: str,
) -> str:
    """Markdown: the ``command`` that wrote it, then one line per (row, point), rows in the
    order given, points along the axis."""
    lines = [
        f"Command: `{command}`",
        "",
        f"Seeds: {', '.join(map(str, seeds))}. Top-1 (%) after the last epoch; differences "
        "paired over seeds with 95% t intervals against the reference trained at the same "
        f"{axis}, * where the interval excludes 0; wall minutes per run as logged, every stage "
        "counted (a run that shared its cores with others logs more).",
        "",
        f"| row | {axis} | top-1, mean +- std | "
        + " | ".join(f"vs {r}" for r in references)
        + " | min / run |",
        "| --- | --- | --- | " + "--- | " * len(references) + "--- |",
    ]
    names = list(dict.fromkeys(name for name, _ in cells))
    for name in names:
        for point in points:
            cell = cells[name, point.label]
            differences = [
                "" if d is None else run.difference_cell(d) for d in cell.differences.values()
            ]
            lines.append(
                f"| {name} | {point.label} | {run.spread(cell.accuracy)} | "
                + " | ".join(differences)
                + f" | {cell.minutes:.1f} |"
            )
    folders = {
        f"{name}@{point.label}": [point.folder / f"seed{s}" / name for s in seeds]
        for name in names
        for point in points
    }
    return "\n".join(lines) + "\n\n" + run.code_note(folders)


def plot(
    cells: Dict[Tuple[str, str], Cell],
    points: Sequence[Point],
    rows: Sequence[str],
    references: Sequence[str],
    axis: str,
    output: Path,
) -> None:
    """One panel per reference: each row's difference to it against the axis, 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(
        1, len(references), figsize=(4.2 * len(references), 3.4), squeeze=False
    )
    for panel, reference in zip(panels[0], references):
        shown = [name for name in rows if name != reference]
        for i, name in enumerate(shown):
            offset = (i - (len(shown) - 1) / 2) * 0.06  # keep the error bars apart
            intervals = [cells[name, p.label].differences[reference] for p in points]
            panel.errorbar(
                [x + offset for x in range(len(points))],
                [d.mean for d in intervals],
                yerr=[d.half_width for d in intervals],
                marker="o",
                capsize=3,
                color=f"C{list(rows).index(name)}",  # one colour per row in every panel
                label=name,
            )
        panel.axhline(0.0, color="grey", ls="--", lw=1)
        panel.set_xticks(range(len(points)), [p.label for p in points])
        panel.set_xlabel(axis)
        panel.set_ylabel(f"top-1 minus {reference} (points), 95% CI")
        panel.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(output, dpi=120)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("points", nargs="+", metavar="LABEL=FOLDER")
    parser.add_argument("--rows", nargs="+", required=True, help="rows compared at each point")
    parser.add_argument(
        "--references", nargs="+", default=["ce", "kd"], help="rows to compare with (ce kd)"
    )
    parser.add_argument("--axis", default="setting", help="what changes between the points")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, required=True, help="writes <out>.md and <out>.png")
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error("give at least two --seeds: one seed has no interval to plot")
    try:
        points = [parse_point(text) for text in args.points]
        cells = measure(points, args.rows, args.references, args.seeds)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/axis.py", *given])
    text = table(cells, points, args.references, args.axis, args.seeds, command)
    Path(f"{args.out}.md").write_text(text)
    plot(cells, points, args.rows, args.references, args.axis, Path(f"{args.out}.png"))
    print(text)


if __name__ == "__main__":
    main()
