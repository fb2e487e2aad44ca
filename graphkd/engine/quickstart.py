"""The quickstart: teacher, graph-distilled student and cross-entropy student on Fashion-MNIST."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import torch

from graphkd.engine.config import Config, apply_overrides, load_config
from graphkd.engine.metrics_log import MetricsLog
from graphkd.engine.trainer import CROSS_ENTROPY, Trainer

#: The graph method the quickstart distils with: of rkd and dist, the one that gained most
#: over cross-entropy in the measurement recorded in docs/engine.rst (+1.75 vs +0.35).
QUICKSTART_METHOD = "rkd"


@dataclass
class QuickstartResult:
    """Accuracies (%) and locations of one quickstart run."""

    output: Path
    method: str
    teacher_acc: float
    method_acc: float
    ce_acc: float
    plot: Optional[Path]
    seconds: float

    def summary(self) -> str:
        """A side-by-side table of the accuracies and where the files are."""
        lines = [
            f"{'model':<32}{'top-1 (%)':>10}",
            f"{'teacher':<32}{self.teacher_acc:>10.2f}",
            f"{'student, cross-entropy only':<32}{self.ce_acc:>10.2f}",
            f"{'student, ' + self.method + ' distillation':<32}{self.method_acc:>10.2f}",
            f"gain of {self.method} over cross-entropy: {self.method_acc - self.ce_acc:+.2f} points"
            f" ({self.seconds:.0f} s)",
            f"runs: {self.output}/{{teacher,{CROSS_ENTROPY},{self.method}}}",
            "  metrics.csv (per-epoch log), last.pt / previous.pt (checkpoints),",
            "  model.pt (final weights), config.yaml (resolved config)",
        ]
        lines.append(
            f"plot: {self.plot}" if self.plot else "plot: none (pip install matplotlib for one)"
        )
        return "\n".join(lines)


def quickstart(
    output: str = "runs/quickstart",
    method: str = QUICKSTART_METHOD,
    overrides: Sequence[str] = (),
    trainer: Optional[Trainer] = None,
    log: Optional[Callable[[str], None]] = None,
) -> QuickstartResult:
    """Train (or reuse) a teacher, then distil a student with ``method`` and one with CE.

    Parameters
    ----------
    output : str
        Experiment directory; a teacher already at ``<output>/teacher/model.pt`` is reused,
        the two students are trained again (their earlier runs there are replaced).
    method : str
        The distillation method of the first student.
    overrides : list of str
        ``section.key=value`` overrides of the shipped ``fashion_mnist`` config.
    trainer : Trainer, optional
        The trainer to use (default: ``Trainer(log=log)``).
    log : callable, optional
        Receives progress lines (default: the trainer's).

    Returns
    -------
    QuickstartResult
    """
    began = time.time()
    trainer = Trainer(log=log) if trainer is None else trainer
    log = trainer.log
    config: Config = load_config("fashion_mnist", overrides)
    config = apply_overrides(config, [f"run.output={output}"])
    teacher_dir = Path(output) / "teacher"
    if (teacher_dir / "model.pt").is_file():
        log(f"reusing the teacher at {teacher_dir / 'model.pt'}")
        saved = torch.load(teacher_dir / "model.pt", map_location="cpu", weights_only=True)
        teacher_acc = float(saved.get("test_acc", float("nan")))
    else:
        log(f"training the teacher {config.model.teacher} ...")
        teacher_acc = trainer.train_teacher(config, resume=True).test_acc
    log(f"distilling {config.model.student} with {method} ...")
    method_acc = trainer.distill(config, method, overwrite=True).test_acc
    log(f"training {config.model.student} with cross-entropy only ...")
    ce_acc = trainer.distill(config, CROSS_ENTROPY, overwrite=True).test_acc
    plot = _plot(Path(output), ["teacher", CROSS_ENTROPY, method])
    return QuickstartResult(
        Path(output), method, teacher_acc, method_acc, ce_acc, plot, time.time() - began
    )


def _plot(output: Path, runs: List[str]) -> Optional[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    figure, axis = plt.subplots(figsize=(5, 3.5))
    for run in runs:
        rows = MetricsLog(output / run / "metrics.csv").rows()
        epochs = [int(r["epoch"]) for r in rows]
        axis.plot(epochs, [float(r["test_acc"]) for r in rows], marker="o", label=run)
    axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylabel("test top-1 (%)")
    axis.legend()
    figure.tight_layout()
    path = output / "accuracy.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
