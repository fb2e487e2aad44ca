"""Run a protocol over rows x seeds and report paired statistics, a table and a plot.

A row is a method with its options: ``ce`` (the student alone), every registered method
with its defaults, ``kd_ensemble`` (KD from two teachers of the same architecture,
trained with seeds 0 and 1), VRM with one switch off (``vrm_no_<switch>``) and MHGD
trained with its reference implementation's SVD gradient (``mhgd_reference_svd_gradient``,
see the MHGD page's deviations).
A method's warm-up or initialisation phase keeps the fraction of the schedule it has in
the reference (``scaled_epoch_options``: DKD's 20-epoch warm-up of 240 is 1 epoch of 15).
Each training run is its own ``python -m graphkd`` subprocess. The teacher is trained once
(seed 0, with the teacher config) and shared; every (row, seed) student then distils
from it. For one seed every row starts from the same student weights and sees the same
batches and augmentations (the trainer's paired design), so rows are compared through
per-seed differences (:mod:`stats`). Finished runs are skipped (their ``model.pt``
exists, or their ``metrics.csv`` holds the last epoch: checkpoints are not committed, so
a fresh checkout keeps the committed rows) and interrupted ones resume from their last
checkpoint, so rerunning the same command continues where it stopped. A run that fails
stops none of the others; once all have ended the runner exits naming the failed ones.

Outputs in ``--output``: ``results.md`` (the command, teacher accuracy, per row the
last-epoch top-1 mean +- std with its 95% t CI, the best-epoch top-1, the number of seeds,
the paired difference to CE and to KD with 95% CIs, ``*`` where the CI excludes 0,
whether the row's mean is at least CE's mean minus one CE standard deviation, and wall
minutes per run, every stage counted), ``ci.png`` (mean and 95% CI per row) and ``curves.png``.

The Fashion-MNIST protocol (configs ``fashion_mnist_protocol`` and
``fashion_mnist_protocol_teacher``), every row, five seeds::

    python benchmarks/run.py --output benchmarks/results/fashion_mnist_protocol

On a CPU, ``--jobs 2`` trains two students at a time with one core each (small models
gain little from a second thread; the teachers still train one at a time)::

    python benchmarks/run.py --jobs 2 --output benchmarks/results/fashion_mnist_protocol

A smoke run in seconds (tiny data, one epoch, rows ce and kd, two seeds)::

    python benchmarks/run.py --quick --output /tmp/protocol_quick

While runs are still going (or on a checkout that holds only their records),
``--report-only`` writes the table and plots from the runs that have finished and trains
nothing; a row shows how many seeds it has, and its differences pair the seeds it shares
with CE and KD::

    python benchmarks/run.py --output benchmarks/results/fashion_mnist_protocol --report-only

An ablation reuses a trained teacher (``--teacher``: the folder holding its ``model.pt``
and ``metrics.csv``) and changes method options with ``--set``::

    python benchmarks/run.py --config fashion_mnist --rows vrm \\
        --teacher benchmarks/results/fashion_mnist/teacher \\
        --set method.options.prune=false --output benchmarks/results/fashion_mnist_vrm_prune
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

import stats

if TYPE_CHECKING:
    from graphkd.engine.config import OptimConfig

CROSS_ENTROPY = "ce"
KD = "kd"
ENSEMBLE = "kd_ensemble"
#: VRM's ablation switches; row ``vrm_no_<switch>`` turns one off.
VRM_SWITCHES = ("virtual", "icv", "prune", "adaptor", "zscore")
#: Rows of MHGD with one option changed: name -> config overrides.
MHGD_VARIANTS = {
    "mhgd_reference_svd_gradient": ("method.options.svd_gradient=reference",),
}
#: Settings of ``--quick``, applied to the teacher and to every student.
QUICK = (
    "data.subset=128",
    "data.test_subset=128",
    "data.batch_size=32",
    "data.limit_batches=2",
    "optim.epochs=1",
    "optim.milestones=[]",
)
Runs = Dict[str, Dict[int, List[Dict[str, float]]]]
#: The repository root (benchmarks/..): paths inside it are recorded relative to it.
REPOSITORY = Path(__file__).resolve().parent.parent
#: The file in each run folder naming the code version that trained it.
PROVENANCE = "provenance.json"


@dataclass(frozen=True)
class Row:
    """One line of the table: ``method`` with config ``overrides``, or from two teachers."""

    name: str
    method: str
    overrides: Tuple[str, ...] = ()
    ensemble: bool = False

    @property
    def plain(self) -> bool:
        """A method with its defaults and one teacher (its runs sit in ``seed<s>/<method>``)."""
        return self.name == self.method and not self.overrides and not self.ensemble


def all_rows(methods: Sequence[str]) -> List[Row]:
    """CE, ``methods`` with their defaults, the teacher ensemble, VRM's ablations and MHGD's
    variants."""
    rows = [Row(CROSS_ENTROPY, CROSS_ENTROPY)] + [Row(m, m) for m in methods]
    if KD in methods:
        rows.append(Row(ENSEMBLE, KD, ensemble=True))
    if "vrm" in methods:
        rows += [Row(f"vrm_no_{s}", "vrm", (f"method.options.{s}=false",)) for s in VRM_SWITCHES]
    if "mhgd" in methods:
        rows += [Row(name, "mhgd", options) for name, options in MHGD_VARIANTS.items()]
    return rows


def run(command: List[str], threads: Optional[int] = None) -> None:
    """``python -m graphkd <command>``; ``threads`` caps its CPU threads (OMP/MKL)."""
    print("+ " + " ".join(command), flush=True)
    env = None
    if threads is not None:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    # from the repository root, where the recorded relative paths (:func:`relative`) point
    subprocess.run([sys.executable, "-m", "graphkd", *command], check=True, env=env, cwd=REPOSITORY)


def finished(folder: Path, epochs: Optional[int] = None) -> bool:
    """Whether the run in ``folder`` ended: its ``model.pt`` exists, or its
    ``metrics.csv`` holds epoch ``epochs`` (default: the ``optim.epochs`` of the run's own
    ``config.yaml``), the committed record of a run whose checkpoints stayed on another
    machine."""
    if (folder / "model.pt").exists():
        return True
    if not (folder / "metrics.csv").exists():
        return False
    if epochs is None:
        if not (folder / "config.yaml").exists():
            return False
        from graphkd.engine import load_config

        epochs = load_config(folder / "config.yaml").optim.epochs
    logged = read_metrics(folder)
    return bool(logged) and logged[-1].get("epoch", 0) >= epochs


def code_version() -> Dict[str, str]:
    """The graphkd version and the repository's commit (``+dirty`` with uncommitted
    changes to tracked files), as :func:`train` records them in ``provenance.json``."""
    from graphkd import __version__

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPOSITORY)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD") or "unknown"
    if commit != "unknown" and git("status", "--porcelain", "--untracked-files=no", "graphkd"):
        commit += "+dirty"
    return {"graphkd": __version__, "commit": commit}


def recorded_version(folder: Path) -> Optional[Dict[str, str]]:
    """What ``provenance.json`` in a run folder says made it (``None``: not recorded)."""
    path = folder / PROVENANCE
    return json.loads(path.read_text()) if path.exists() else None


def relative(path: Path) -> Path:
    """``path`` relative to the repository when it lies inside it (run folders that get
    committed then name no machine's absolute paths), else as given."""
    try:
        return path.resolve().relative_to(REPOSITORY)
    except ValueError:
        return path


def train(
    kind: List[str],
    folder: Path,
    overrides: List[str],
    epochs: int,
    threads: Optional[int] = None,
    rerun_older_code: bool = False,
) -> None:
    """Run one training of ``epochs`` epochs unless ``folder`` holds it finished; resume a
    started one. A run started here records the code that made it (``provenance.json``,
    :func:`code_version`); resuming it with other code says so. With
    ``rerun_older_code`` a run that other code made (or that recorded none) is trained
    again from scratch."""
    version = code_version()
    recorded = recorded_version(folder)
    older = recorded is None or recorded["commit"] != version["commit"]
    again = rerun_older_code and older and (folder / "metrics.csv").exists()
    if finished(folder, epochs) and not again:
        print(f"= {folder} is finished, skipped", flush=True)
        return
    if recorded is not None and older and not again:
        print(f"! {folder} was started by {recorded}, resumed by {version}", flush=True)
    if again or recorded is None or not (folder / "metrics.csv").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PROVENANCE).write_text(json.dumps(version) + "\n")
    # --resume continues a started run, and starts one afresh when it has no checkpoint
    start = ["--overwrite"] if again else ["--resume"]
    run([*kind, *start, *(f"--set={o}" for o in overrides)], threads)


def code_note(folders: Dict[str, List[Path]]) -> str:
    """Which code made each row's runs (``folders[row]``: its run folders), one line per
    commit, oldest records last; rows of runs without ``provenance.json`` are 'unrecorded'
    (made before the runner recorded its code)."""
    by_commit: Dict[str, List[str]] = {}
    for row, runs in folders.items():
        commits = {(recorded_version(f) or {}).get("commit", "unrecorded") for f in runs}
        for commit in sorted(commits):
            by_commit.setdefault(commit[:12], []).append(row)
    lines = [f"- {commit}: {', '.join(rows)}" for commit, rows in by_commit.items()]
    return (
        "Code that made the runs (provenance.json; rerun with --rerun-older-code):\n\n"
        + "\n".join(lines)
        + "\n"
    )


def scaled_schedule(optim: OptimConfig, epochs: int) -> List[str]:
    """Overrides that train ``epochs`` epochs with ``optim``'s milestones at the same
    fractions of the schedule (rounded to whole epochs).

    Example
    -------
    >>> from graphkd.engine.config import OptimConfig
    >>> scaled_schedule(OptimConfig(epochs=15, milestones=[10, 13]), 60)
    ['optim.epochs=60', 'optim.milestones=[40,52]']
    """
    milestones = [round(m * epochs / optim.epochs) for m in optim.milestones]
    return [f"optim.epochs={epochs}", f"optim.milestones=[{','.join(map(str, milestones))}]"]


def threads_per_job(jobs: int) -> Optional[int]:
    """CPU threads of each of ``jobs`` parallel runs: the cores shared out, unless the
    caller set ``OMP_NUM_THREADS`` (then each run inherits it); ``None`` for one job."""
    if jobs == 1 or "OMP_NUM_THREADS" in os.environ:
        return None
    return max(1, (os.cpu_count() or 1) // jobs)


def read_metrics(folder: Path) -> List[Dict[str, float]]:
    """The epochs of the run in ``folder`` (its ``metrics.csv``)."""
    return read_log(folder / "metrics.csv")


def run_minutes(folder: Path) -> float:
    """Wall minutes of the run in ``folder``: the ``seconds`` of every epoch of
    ``metrics.csv`` and of any earlier stage's log (``metrics_<stage>.csv``, e.g. MHGD's
    attention epochs)."""
    logs = folder.glob("metrics*.csv")
    return sum(row.get("seconds", 0.0) for log in logs for row in read_log(log)) / 60


def read_log(path: Path) -> List[Dict[str, float]]:
    """The rows of a metrics log as numbers (empty cells left out)."""
    with open(path, newline="") as handle:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(handle)
        ]


def run_output(output: Path, seed: int, row: Row) -> Path:
    """The ``run.output`` of a (row, seed); the run itself is ``<that>/<row.method>``."""
    return output / f"seed{seed}" if row.plain else output / f"seed{seed}" / row.name


def difference_cell(interval: stats.Interval) -> str:
    """``+d [low, high]`` with ``*`` when the interval excludes 0."""
    mark = "*" if interval.significant else ""
    return f"{interval.mean:+.2f} [{interval.low:+.2f}, {interval.high:+.2f}]{mark}"


def spread(interval: stats.Interval) -> str:
    """``mean +- std``; one seed has no spread to show ("+- 0.00" would claim a measured 0)."""
    if interval.n < 2:
        return f"{interval.mean:.2f}"
    return f"{interval.mean:.2f} +- {interval.std:.2f}"


def _interval(interval: stats.Interval) -> str:
    return "" if interval.n < 2 else f"[{interval.low:.2f}, {interval.high:.2f}]"


def summarise(
    runs: Runs, teachers: Dict[str, float], command: str, minutes: Dict[str, float]
) -> str:
    """The results table (markdown) of ``runs[row][seed]`` metrics rows, with each row's
    wall ``minutes`` per run (every stage counted)."""
    last = {r: {seed: rows[-1]["test_acc"] for seed, rows in s.items()} for r, s in runs.items()}
    best = {r: [max(x["test_acc"] for x in rows) for rows in s.values()] for r, s in runs.items()}
    seeds = sorted({seed for by_seed in runs.values() for seed in by_seed})
    lines = [
        f"Command: `{command}`",
        "",
        "Teacher: " + ", ".join(f"{k} {v:.2f}% top-1" for k, v in teachers.items()) + ".",
        f"Seeds: {', '.join(map(str, seeds))}. Top-1 (%) on the test set after the last "
        "epoch; 'best epoch' is the maximum over epochs, chosen on the test set (optimistic, "
        "for reference only). Differences are paired over the seeds both rows have, with "
        "95% t confidence intervals; * marks an interval that excludes 0. 'CE - std' says "
        "whether the row's "
        "mean is at least the CE mean minus one CE standard deviation (the bar every method "
        "with its defaults must clear).",
        "",
        "| row | last epoch, mean +- std | 95% CI | best epoch, mean +- std | seeds "
        "| vs CE | vs KD | >= CE - std | min / run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    floor = None
    if len(last.get(CROSS_ENTROPY, {})) > 1:
        baseline = stats.mean_interval(list(last[CROSS_ENTROPY].values()))
        floor = baseline.mean - baseline.std
    for name, by_seed in last.items():
        own = stats.mean_interval(list(by_seed.values()))
        peak = stats.mean_interval(best[name])
        versus = []
        for reference in (CROSS_ENTROPY, KD):
            common = sorted(set(by_seed) & set(last.get(reference, {})))
            paired = reference != name and len(common) > 1
            versus.append(
                difference_cell(
                    stats.paired_difference(
                        [by_seed[seed] for seed in common],
                        [last[reference][seed] for seed in common],
                    )
                )
                if paired
                else ""
            )
        clears = (
            "" if floor is None or name == CROSS_ENTROPY else "yes" if own.mean >= floor else "no"
        )
        lines.append(
            f"| {name} | {spread(own)} | {_interval(own)} | {spread(peak)} | {own.n} "
            f"| {versus[0]} | {versus[1]} | {clears} | {minutes[name]:.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot(runs: Runs, output: Path) -> None:
    """``ci.png``: last-epoch mean and 95% CI per row; ``curves.png``: accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = list(runs)
    intervals = [stats.mean_interval([r[-1]["test_acc"] for r in runs[n].values()]) for n in names]
    figure, axis = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    axis.errorbar(
        [i.mean for i in intervals],
        range(len(names)),
        xerr=[0 if i.n < 2 else i.half_width for i in intervals],
        fmt="o",
        capsize=3,
    )
    if CROSS_ENTROPY in runs:
        axis.axvline(intervals[names.index(CROSS_ENTROPY)].mean, color="grey", ls="--", lw=1)
    axis.set_yticks(range(len(names)), names)
    axis.invert_yaxis()
    axis.set_xlabel("test top-1 (%), last epoch: mean and 95% CI over seeds")
    figure.tight_layout()
    figure.savefig(output / "ci.png", dpi=120)
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, seeds in runs.items():
        epochs = min(len(rows) for rows in seeds.values())
        mean = [statistics.fmean(r[e]["test_acc"] for r in seeds.values()) for e in range(epochs)]
        axis.plot(range(1, epochs + 1), mean, marker=".", label=name)
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
    axis.set_ylabel("test top-1 (%), mean over seeds")
    axis.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    figure.savefig(output / "curves.png", dpi=120)


def teacher_config(config: str) -> str:
    """``<config>_teacher`` when it is a shipped config, else ``config`` itself."""
    from graphkd.engine import shipped_configs

    return f"{config}_teacher" if f"{config}_teacher" in shipped_configs() else config


def main(argv: Optional[List[str]] = None) -> None:
    from graphkd import list_methods
    from graphkd.engine import load_config
    from graphkd.engine.run_checks import scaled_epoch_options

    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", default="fashion_mnist_protocol", help="shipped config name or YAML path"
    )
    parser.add_argument(
        "--teacher-config",
        help="config of the teacher (default: <config>_teacher when shipped, else --config)",
    )
    rows = {row.name: row for row in all_rows(list_methods())}
    parser.add_argument(
        "--rows",
        "--methods",
        dest="rows",
        nargs="+",
        choices=list(rows),
        metavar="ROW",
        help=f"rows to run (default: all): {', '.join(rows)}",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="default: 0 1 2 3 4 (0 1 with --quick)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("benchmarks/results/fashion_mnist_protocol"),
        help="folder of the runs, results.md and the plots",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override of every student run (repeatable)",
    )
    parser.add_argument(
        "--teacher-set",
        dest="teacher_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override of the teacher runs (repeatable)",
    )
    parser.add_argument(
        "--teacher",
        type=Path,
        help="folder of a trained teacher (model.pt, metrics.csv) to reuse instead of training",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="students train N epochs, the config's milestones scaled by N / its epochs (the "
        "schedule axis; the teacher is unchanged)",
    )
    parser.add_argument(
        "--rerun-older-code",
        action="store_true",
        help="train again, from scratch, every run that other code made (another commit in "
        "its provenance.json, or none recorded), so the table comes from one version",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: tiny data, 1 epoch, rows ce kd, 2 seeds"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: write results.md and the plots from the runs in --output that have "
        "finished (a row shows how many of its seeds have; differences pair the seeds both "
        "rows have)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="student runs at a time (default 1); each gets cores / jobs CPU threads unless "
        "OMP_NUM_THREADS is set (small CPU runs go faster as parallel 1-thread jobs)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give at least 1")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs {args.epochs}: give at least 1")
    if Path(args.config).is_file():  # the runs start from the repository root
        args.config = str(Path(args.config).resolve())
    given = sys.argv[1:] if argv is None else argv
    # the command that trains the runs (--report-only only summarises them)
    command = shlex.join(
        ["python", "benchmarks/run.py", *(a for a in given if a != "--report-only")]
    )
    chosen = [rows[name] for name in args.rows or ([CROSS_ENTROPY, KD] if args.quick else rows)]
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2, 3, 4])
    quick = list(QUICK) if args.quick else []
    output = args.output.resolve()
    common = [*quick, *args.overrides]
    if args.epochs is not None:
        common += scaled_schedule(load_config(args.config, common).optim, args.epochs)
    teacher_kind = ["train-teacher", "--config", args.teacher_config or teacher_config(args.config)]
    teacher_common = [*quick, *args.teacher_overrides]
    teacher_epochs = load_config(teacher_kind[-1], teacher_common).optim.epochs
    if args.teacher is None:
        teacher_dir = output / "teacher"
        if not args.report_only:
            train(
                teacher_kind,
                teacher_dir,
                [*teacher_common, f"run.output={relative(output)}", "run.seed=0"],
                teacher_epochs,
            )
    else:
        teacher_dir = args.teacher.resolve()
        if not (teacher_dir / "model.pt").exists():
            parser.error(f"--teacher {teacher_dir} holds no model.pt; train the teacher first")
    teachers = {"teacher": read_metrics(teacher_dir)[-1]["test_acc"]}
    ensemble_args: List[str] = []
    second = output / "ensemble_teacher"
    if args.report_only:
        chosen = [row for row in chosen if not row.ensemble or finished(second / "teacher")]
    if any(row.ensemble for row in chosen):
        if not args.report_only:
            train(
                teacher_kind,
                second / "teacher",
                [*teacher_common, f"run.output={relative(second)}", "run.seed=1"],
                teacher_epochs,
            )
        teachers["second teacher (seed 1, ensemble)"] = read_metrics(second / "teacher")[-1][
            "test_acc"
        ]
        arch = load_config(args.config, common).model.teacher
        ensemble_args = [
            f"model.teachers=[{arch},{arch}]",
            "model.teacher_checkpoints=[{},{}]".format(
                relative(teacher_dir / "model.pt"), relative(second / "teacher/model.pt")
            ),
        ]
    threads = threads_per_job(args.jobs)

    def student(row: Row, seed: int) -> None:
        folder = run_output(output, seed, row)
        config = load_config(args.config, [*common, *row.overrides])
        epochs = config.optim.epochs
        # a warm-up or initialisation phase takes the reference's fraction of the schedule
        scaled = scaled_epoch_options(row.method, config.method.options, epochs)
        train(
            ["distill", "--config", args.config, "--method", row.method],
            folder / row.method,
            [
                *common,
                *row.overrides,
                *(f"method.options.{name}={value}" for name, value in scaled.items()),
                *(ensemble_args if row.ensemble else []),
                f"run.output={relative(folder)}",
                f"run.seed={seed}",
                f"model.teacher_checkpoint={relative(teacher_dir / 'model.pt')}",
            ],
            epochs,
            threads,
            args.rerun_older_code,
        )

    pairs = [(row, seed) for row in chosen for seed in seeds]
    if args.report_only:
        pairs = [(r, s) for r, s in pairs if finished(run_output(output, s, r) / r.method)]
    else:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            started = {pair: pool.submit(student, *pair) for pair in pairs}
        # a failed run stops none of the others; the runner fails once all have ended
        failed = [
            f"{row.name} seed {seed}"
            for (row, seed), future in started.items()
            if future.exception()
        ]
        if failed:
            sys.exit(
                f"run.py: {len(failed)} of {len(pairs)} runs failed ({', '.join(failed)}; their "
                "errors are above); the rest finished: --report-only tabulates them, and the "
                "same command again retrains only the failed runs"
            )
    runs: Runs = {}
    for row, seed in pairs:
        folder = run_output(output, seed, row) / row.method
        runs.setdefault(row.name, {})[seed] = read_metrics(folder)
    folders: Dict[str, List[Path]] = {}
    for row, seed in pairs:
        folders.setdefault(row.name, []).append(run_output(output, seed, row) / row.method)
    minutes = {name: statistics.fmean(map(run_minutes, paths)) for name, paths in folders.items()}
    table = summarise(runs, teachers, command, minutes) + "\n" + code_note(folders)
    (output / "results.md").write_text(table)
    plot(runs, output)
    print(table)


if __name__ == "__main__":
    main()
