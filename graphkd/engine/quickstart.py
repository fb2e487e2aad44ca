"""The quickstart: a graph-distilled and a cross-entropy student from a converged teacher.

The main job of the README. Both students are the Fashion-MNIST protocol's
(``fashion_mnist_protocol``: resnet8 on 3,000 training images for 15 epochs, all 10,000
test images) and distil from the protocol's converged resnet20 teacher, which ships with
the package (``graphkd/pretrained``); ``train_teacher=True`` trains that teacher instead
(``fashion_mnist_protocol_teacher``, about 45 minutes on 2 cores). The summary puts the
one-seed gain beside the gain the protocol measured over five paired seeds, so a reader
sees how far one seed can say anything.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from graphkd.engine.config import Config, apply_overrides, load_config
from graphkd.engine.metrics_log import MetricsLog
from graphkd.engine.trainer import CROSS_ENTROPY, Trainer

#: The quickstart's method: MHGD, a graph method of graphkd's own whose gain over
#: cross-entropy on the protocol is significant (+1.52 [+1.02, +2.01] over five paired
#: seeds) and whose student trains within the quickstart's few minutes (VRM gains more,
#: +2.75, but takes about 2.5 times as long per run).
QUICKSTART_METHOD = "mhgd"
#: The students' config: the Fashion-MNIST distillation protocol.
QUICKSTART_CONFIG = "fashion_mnist_protocol"
#: The config that trains the protocol's teacher (``train_teacher=True``).
TEACHER_CONFIG = "fashion_mnist_protocol_teacher"


def protocol_record() -> Dict[str, Any]:
    """The shipped teacher and what the protocol measured
    (``graphkd/pretrained/fashion_mnist_protocol.json``: the teacher's file, architecture
    and accuracy, and each row's mean gain over cross-entropy with its 95% paired
    interval, copied from ``benchmarks/results/fashion_mnist_protocol/results.md``)."""
    text = resources.files("graphkd").joinpath("pretrained/fashion_mnist_protocol.json")
    return json.loads(text.read_text())


def shipped_teacher() -> Path:
    """The path of the protocol's resnet20 teacher shipped with the package."""
    name = protocol_record()["teacher"]["file"]
    return Path(str(resources.files("graphkd").joinpath(f"pretrained/{name}")))


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
    teacher: Path

    def summary(self) -> str:
        """A side-by-side table of the accuracies, the gain beside the protocol's, and
        where the files are."""
        gain = self.method_acc - self.ce_acc
        lines = [
            f"{'model':<32}{'top-1 (%)':>10}",
            f"{'teacher':<32}{self.teacher_acc:>10.2f}",
            f"{'student, cross-entropy only':<32}{self.ce_acc:>10.2f}",
            f"{'student, ' + self.method + ' distillation':<32}{self.method_acc:>10.2f}",
            f"gain of {self.method} over cross-entropy: {gain:+.2f} points, one seed"
            f" ({self.seconds:.0f} s)",
            _protocol_line(self.method),
            f"teacher: {self.teacher}",
            f"runs: {self.output}/{{{CROSS_ENTROPY},{self.method}}}",
            "  metrics.csv (per-epoch log), last.pt / previous.pt (checkpoints),",
            "  model.pt (final weights), config.yaml (resolved config)",
        ]
        lines.append(
            f"plot: {self.plot}" if self.plot else "plot: none (pip install matplotlib for one)"
        )
        return "\n".join(lines)


def _protocol_line(method: str) -> str:
    record = protocol_record()
    row = record["gain_over_ce"].get(method)
    if row is None:
        return (
            f"protocol: no measured row for {method} (python benchmarks/run.py --rows ce {method})"
        )
    return (
        f"protocol, {row['seeds']} paired seeds: {row['mean']:+.2f} points, 95% interval "
        f"[{row['low']:+.2f}, {row['high']:+.2f}] ({record['source']}); one seed's gain "
        "can land anywhere near that interval and beyond"
    )


def quickstart(
    output: str = "runs/quickstart",
    method: str = QUICKSTART_METHOD,
    overrides: Sequence[str] = (),
    trainer: Optional[Trainer] = None,
    log: Optional[Callable[[str], None]] = None,
    train_teacher: bool = False,
) -> QuickstartResult:
    """Distil a student with ``method`` and one with cross-entropy from the shipped teacher.

    Parameters
    ----------
    output : str
        Experiment directory; the students are trained again (earlier runs there are
        replaced).
    method : str
        The distillation method of the first student (default MHGD).
    overrides : list of str
        ``section.key=value`` overrides of the ``fashion_mnist_protocol`` config switched to
        ``method`` (``method.options.*`` are the method's), and of the teacher's config when
        it is trained.
    trainer : Trainer, optional
        The trainer to use (default: ``Trainer(log=log)``).
    log : callable, optional
        Receives progress lines (default: the trainer's).
    train_teacher : bool
        Train the teacher into ``<output>/teacher`` (resuming or reusing a run there)
        instead of using the shipped one; also when the overrides name another teacher
        architecture than the shipped resnet20.

    Returns
    -------
    QuickstartResult
    """
    began = time.time()
    trainer = Trainer(log=log) if trainer is None else trainer
    log = trainer.log
    # the method first, so that method.options among the overrides are the method's
    config: Config = load_config(QUICKSTART_CONFIG, [f"method.name={method}", *overrides])
    config = apply_overrides(config, [f"run.output={output}"])
    shipped = protocol_record()["teacher"]
    if train_teacher or config.model.teacher != shipped["arch"]:
        teacher, teacher_acc = _trained_teacher(trainer, overrides, output)
    else:
        teacher, teacher_acc = shipped_teacher(), float(shipped["test_acc"])
        log(f"using the shipped protocol teacher {shipped['arch']} ({teacher_acc:.2f}%): {teacher}")
    config = apply_overrides(config, [f"model.teacher_checkpoint={teacher}"])
    log(f"distilling {config.model.student} with {method} ...")
    method_acc = trainer.distill(config, overwrite=True).test_acc
    log(f"training {config.model.student} with cross-entropy only ...")
    alone = dataclasses.replace(config.method, name=CROSS_ENTROPY, options={})
    ce_acc = trainer.distill(dataclasses.replace(config, method=alone), overwrite=True).test_acc
    plot = _plot(Path(output), [CROSS_ENTROPY, method])
    return QuickstartResult(
        Path(output), method, teacher_acc, method_acc, ce_acc, plot, time.time() - began, teacher
    )


def _trained_teacher(trainer: Trainer, overrides: Sequence[str], output: str) -> Tuple[Path, float]:
    """Train (or reuse) the protocol's teacher, with ``overrides``, in ``<output>/teacher``."""
    teacher_dir = Path(output) / "teacher"
    if (teacher_dir / "model.pt").is_file():
        trainer.log(f"reusing the teacher at {teacher_dir / 'model.pt'}")
        saved = torch.load(teacher_dir / "model.pt", map_location="cpu", weights_only=True)
        return teacher_dir / "model.pt", float(saved.get("test_acc", float("nan")))
    teacher_config = apply_overrides(
        load_config(TEACHER_CONFIG, overrides), [f"run.output={output}"]
    )
    trainer.log(f"training the teacher {teacher_config.model.teacher} ...")
    result = trainer.train_teacher(teacher_config, resume=True)
    return teacher_dir / "model.pt", result.test_acc


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
