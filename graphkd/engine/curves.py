"""Learning curves of a run, from its ``metrics.csv``, as ``curves.png``.

Two panels over the student's epochs: the training loss (and each logged term) and the
test top-1 accuracy. Epochs are whole numbers on the axis. Written only when matplotlib
is installed (``pip install 'graphkd[viz]'``).

Example
-------
>>> import tempfile, pathlib
>>> from graphkd.engine import MetricsLog
>>> run = pathlib.Path(tempfile.mkdtemp())
>>> log = MetricsLog(run / "metrics.csv")
>>> log.append({"epoch": 1, "train_loss": 2.0, "test_acc": 40.0})
>>> log.append({"epoch": 2, "train_loss": 1.5, "test_acc": 55.0})
>>> path = plot_curves(run)
>>> path is None or path.name == "curves.png"
True
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from graphkd.engine.metrics_log import MetricsLog


def plot_curves(run: Path) -> Optional[Path]:
    """Write ``<run>/curves.png`` from ``<run>/metrics.csv``; ``None`` without matplotlib
    or without a logged epoch."""
    rows = MetricsLog(run / "metrics.csv").rows()
    if not rows:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    epochs = [int(row["epoch"]) for row in rows]
    figure, (losses, accuracy) = plt.subplots(1, 2, figsize=(9, 3.5))
    for column in _train_columns(rows[0]):
        values = [float(row[column]) if row.get(column) else float("nan") for row in rows]
        losses.plot(epochs, values, marker="o", label=column[len("train_") :])
    losses.set_ylabel("training loss (per term, unweighted)")
    losses.legend(fontsize="small")
    accuracy.plot(epochs, [float(row["test_acc"]) for row in rows], marker="o")
    accuracy.set_ylabel("test top-1 (%)")
    for axis in (losses, accuracy):
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(run.name)
    figure.tight_layout()
    path = run / "curves.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _train_columns(row: dict) -> List[str]:
    return [key for key in row if key.startswith("train_")]
