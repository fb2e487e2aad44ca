"""What a run writes and says as it goes: ``metrics.csv`` (and ``metrics_<stage>.csv``
per earlier stage), the TensorBoard scalars, ``config.yaml`` once the first epoch has
finished, ``model.pt`` and ``curves.png`` at the end, and its log lines (notes on the
config, the stages, each epoch, a test loss far above chance)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from graphkd.distill import Stage
from graphkd.engine.config import Config, milestones_beyond_epochs, save_config
from graphkd.engine.curves import plot_curves
from graphkd.engine.metrics_log import MetricsLog
from graphkd.engine.results import RunResult
from graphkd.engine.run_checkpoint import save_final_model
from graphkd.engine.run_checks import (
    epoch_options_note,
    short_schedule_note,
    stage_epoch_options,
)
from graphkd.engine.run_data import data_info
from graphkd.engine.run_folder import remove_run_records
from graphkd.engine.stage_schedule import stage_end, stage_length, stage_start
from graphkd.engine.tensorboard_log import TensorBoardLog

if TYPE_CHECKING:
    from graphkd.engine.run_state import Run

Log = Callable[[str], None]


@dataclass
class RunLogs:
    """``metrics.csv`` (the student's epochs), ``metrics_<stage>.csv`` per earlier stage
    and, with ``run.tensorboard``, the TensorBoard scalars."""

    metrics: MetricsLog
    stages: Dict[str, MetricsLog]
    tensorboard: Optional[TensorBoardLog]

    def append(self, row: Dict[str, object], stage: Optional[str] = None) -> None:
        """One epoch's row: to ``metrics.csv``, or to stage ``stage``'s file."""
        (self.metrics if stage is None else self.stages[stage]).append(row)
        if self.tensorboard is not None:
            self.tensorboard.add_row(row, "" if stage is None else f"{stage}/")


def open_logs(output: Path, stages: List[Stage], tensorboard: bool) -> RunLogs:
    """The run's logs (nothing is written until the first row arrives)."""
    return RunLogs(
        MetricsLog(output / "metrics.csv"),
        {stage.name: MetricsLog(output / f"metrics_{stage.name}.csv") for stage in stages[:-1]},
        TensorBoardLog(output) if tensorboard else None,
    )


def print_now(line: str) -> None:
    """``print`` ``line`` and flush at once."""
    print(line, flush=True)


def log_config_notes(config: Config, workers_note: Optional[str], log: Log) -> None:
    """Say what the run does differently from what its config seems to ask."""
    method, epochs = config.method, config.optim.epochs
    for note in (
        milestones_beyond_epochs(config.optim),
        workers_note,
        epoch_options_note(method.name, method.options, epochs),
        short_schedule_note(method.name, epochs),
    ):
        if note is not None:
            log(note)


def start_records(run: Run) -> None:
    """Before the run's first row: make its directory, remove an earlier run's
    records (a fresh start) or cut the logs back to the resumed epoch, and write
    ``config.yaml``. Once per run, on rank 0."""
    if run.records_started:
        return
    run.output.mkdir(parents=True, exist_ok=True)
    if run.start_epoch == 0:
        remove_run_records(run.output)
    stages = run.models.stages
    run.logs.metrics.truncate(max(0, run.start_epoch - run.models.stage_epochs))
    for stage, stage_log in run.logs.stages.items():
        stage_log.truncate(
            max(0, min(run.start_epoch, stage_end(stages, stage)) - stage_start(stages, stage))
        )
    save_config(run.config, run.output / "config.yaml")
    run.records_started = True


def append_epoch_row(
    run: Run,
    epoch: int,
    stage: Stage,
    terms: Dict[str, float],
    began: float,
    tested: Optional[Tuple[float, float]],
) -> None:
    """Global epoch ``epoch``'s row (numbered within ``stage``) in its stage's log: the
    mean training ``terms`` as ``train_<term>``, the seconds since ``began`` and, after a
    student epoch, its learning rate (``terms["lr"]``) and the student's test accuracy
    and loss (``tested``)."""
    row: Dict[str, object] = {"epoch": epoch + 1 - stage_start(run.models.stages, stage.name)}
    if tested is None:
        row.update({f"train_{k}": v for k, v in terms.items()})
        row["seconds"] = time.time() - began
        run.logs.append(row, stage.name)
        return
    row["lr"] = terms["lr"]
    row.update({f"train_{k}": v for k, v in terms.items() if k != "lr"})
    test_acc, test_loss = tested
    row.update({"test_loss": test_loss, "test_acc": test_acc, "seconds": time.time() - began})
    run.logs.append(row)


def announce_stages(run: Run, log: Log) -> None:
    """Say up front how many epochs each stage of a multi-stage method runs."""
    stages = run.models.stages
    if len(stages) < 2:
        return
    method = run.config.method
    options = list(stage_epoch_options(method.name, method.options).items())
    parts = []
    for number, stage in enumerate(stages, 1):
        epochs, trains = stage_length(stage, run.config.optim.epochs), stage.trains
        log_file = "metrics.csv" if stage is stages[-1] else f"metrics_{stage.name}.csv"
        key = "optim.epochs" if stage is stages[-1] else "the method's options"
        if stage is not stages[-1]:
            named = [k for k, v in options if v == epochs]
            if named:
                key = f"method.options.{named[0]}"
                options = [(k, v) for k, v in options if k != named[0]]
        plural = "" if epochs == 1 else "s"
        parts.append(
            f"{number}. {stage.name}: {epochs} epoch{plural} training the {trains} "
            f"({key}; {log_file})"
        )
    log(
        f"[{run.output.name}] {len(stages)} stages, {run.total_epochs} epochs in all: "
        + "; ".join(parts)
    )


def epoch_label(run: Run, stage: Stage, epoch: int) -> str:
    """``[<run>] <what> epoch k/N`` with k and N counted within the stage, as in its CSV
    (``train`` for cross-entropy runs; ``stage i/n <stage>`` for multi-stage methods)."""
    stages = run.models.stages
    k = epoch + 1 - stage_start(stages, stage.name)
    what = stage.name if run.models.distiller is not None else "train"
    if len(stages) > 1:
        what = f"stage {stages.index(stage) + 1}/{len(stages)} {what}"
    return f"[{run.output.name}] {what} epoch {k}/{stage_length(stage, run.config.optim.epochs)}"


def note_loss_scale(run: Run, test_loss: float, log: Log) -> None:
    """Once per run: say what a test loss far above chance level means."""
    if run.loss_scale_noted or not test_loss > 10 * math.log(2):
        return
    chance = math.log(data_info(run.config.data).num_classes)
    if test_loss > 10 * chance:
        run.loss_scale_noted = True
        log(
            f"[{run.output.name}] test loss {test_loss:.4g} is the student's test "
            f"cross-entropy (the same measure for every method), far above "
            f"{chance:.2f} for uniform guesses: its logits have grown very large, as a "
            f"method's strong weight does in a few steps on small batches; lower "
            f"optim.lr or the method's weight (the train_<term> columns show which "
            f"term grows)"
        )


def finish_run(run: Run, start_time: float) -> RunResult:
    """Write ``model.pt`` and ``curves.png`` (rank 0) and say what the run produced."""
    if not run.context.is_main:
        seconds = time.time() - start_time
        return RunResult(run.output, math.nan, math.nan, run.total_epochs, seconds)
    if not run.records_started:  # resumed after its last epoch: nothing was logged
        run.output.mkdir(parents=True, exist_ok=True)
    save_final_model(run)
    plot_curves(run.output)
    seconds = time.time() - start_time
    return RunResult(run.output, run.test_acc, run.best, run.total_epochs, seconds)
