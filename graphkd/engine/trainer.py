"""Teacher training and distillation: the :class:`Trainer` runs each step of a run (check,
build, restore, epochs, records) through the modules that own it."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any, Callable, Dict, Optional, Union

import torch

from graphkd.distill import Stage
from graphkd.engine.checkpoint import rng_state
from graphkd.engine.config import Config
from graphkd.engine.distributed import DistributedContext, setup_distributed
from graphkd.engine.epochs import (
    BatchOrder,
    StageStep,
    StudentStep,
    train_distiller_epoch,
    train_epoch,
)
from graphkd.engine.evaluation import evaluate, evaluate_checkpoint
from graphkd.engine.optimizers import build_optimizers
from graphkd.engine.results import RunInterrupted, RunResult
from graphkd.engine.run_checkpoint import (
    checked_on_every_rank,
    recorded_model,
    restore,
    save_checkpoint,
)
from graphkd.engine.run_checks import CROSS_ENTROPY, resolve_device
from graphkd.engine.run_data import (
    data_errors_in_config_terms,
    log_data_source,
    prepare_data,
    test_loader,
    training_set,
    workers_for_cpus,
)
from graphkd.engine.run_models import build_model, build_models
from graphkd.engine.run_records import (
    announce_stages,
    append_epoch_row,
    epoch_label,
    finish_run,
    log_config_notes,
    note_loss_scale,
    open_logs,
    print_now,
    start_records,
)
from graphkd.engine.run_request import RunRequest, distill_request, method_folder, teacher_request
from graphkd.engine.run_state import Run
from graphkd.engine.seed import seed_everything
from graphkd.engine.stage_schedule import stage_at

__all__ = [
    "CROSS_ENTROPY",
    "RunInterrupted",
    "RunResult",
    "Trainer",
    "build_model",
    "evaluate",
    "method_folder",
    "recorded_model",
    "resolve_device",
    "test_loader",
]


class Trainer:
    """Train teachers and distil students as configured by a :class:`~graphkd.engine.Config`.

    Each step feeds one batch to the frozen teacher (eval mode, no gradients) and to the
    student, both tapped into :class:`~graphkd.Responses`, and minimises

    .. math::
        \\mathcal{L} = w_{\\mathrm{ce}}\\, \\mathrm{CE}(z_s, y) + \\mathcal{L}_{\\mathrm{distill}}(R_t, R_s)

    with :math:`w_{\\mathrm{ce}}` = ``distiller.ce_weight`` (1 for method ``"ce"``, which
    has no distillation loss). SGD with a multi-step schedule; evaluation (top-1) after
    every epoch; one CSV row (``metrics.csv``) and one atomic checkpoint (``last.pt``,
    the previous one kept as ``previous.pt``) per epoch; ``model.pt`` with the final
    weights, ``curves.png`` with the learning curves (with matplotlib) and
    ``config.yaml`` with the resolved configuration. With ``resume=True`` a run
    continues from ``last.pt`` with the optimiser, scheduler, AMP scaler and random
    generators restored, so that under ``run.deterministic`` it ends with the same
    weights as an uninterrupted run.

    Everything that can be checked is checked before the run touches a file (see
    :mod:`graphkd.engine.run_checks`), and the run directory's records are written
    only once the first epoch has finished: a run that fails early leaves an earlier
    run's records as they were. A directory that holds a run is refused unless
    ``resume`` (continue it) or ``overwrite`` (replace it) is given.

    Parameters
    ----------
    progress : bool, optional
        Show a tqdm bar per epoch with the running loss (default: only when stderr is a
        terminal).
    log : callable, optional
        Receives one line per epoch (default: ``print``); pass ``lambda line: None`` to
        silence.

    Example
    -------
    >>> from graphkd.engine import Trainer, load_config
    >>> config = load_config("fashion_mnist", ["optim.epochs=1", "data.subset=256"])
    >>> # Trainer().train_teacher(config) trains config.model.teacher into config.run.output
    """

    def __init__(
        self, progress: Optional[bool] = None, log: Optional[Callable[[str], None]] = None
    ) -> None:
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.log = print_now if log is None else log

    def train_teacher(
        self, config: Config, resume: Union[bool, str] = False, overwrite: bool = False
    ) -> RunResult:
        """Train ``config.model.teacher`` with cross-entropy into ``<run.output>/teacher``.

        ``resume`` and ``overwrite`` as in :meth:`distill`.
        """
        return self._fit(*teacher_request(config, resume, overwrite))

    def distill(
        self,
        config: Config,
        method: Optional[str] = None,
        resume: Union[bool, str] = False,
        overwrite: bool = False,
        allow_method_change: bool = False,
    ) -> RunResult:
        """Distil ``config.model.teacher_checkpoint`` into ``config.model.student``.

        Parameters
        ----------
        config : Config
            The run. The teacher's weights are ``model.teacher_checkpoint``, by default
            ``<run.output>/teacher/model.pt`` (where :meth:`train_teacher` puts them).
            The student's run goes to ``<run.output>/<method>`` (for a method
            ``module:factory``, ``<run.output>/<factory>``).
        method : str, optional
            ``"ce"``, a name of :func:`graphkd.list_methods` or ``"module:factory"``
            (see :func:`graphkd.distill.import_method`); default ``config.method.name``.
            Options in ``config.method.options`` apply when the names agree.
        resume : bool or str
            ``True``: continue from ``<output>/last.pt`` (from scratch when there is
            none); a path: continue from that checkpoint.
        overwrite : bool
            Start again in a run directory that holds a run (its records are removed
            once the new run's first epoch has finished).
        allow_method_change : bool
            Resume from a checkpoint of another method's run (same student, dataset and
            trained state shapes).
        """
        return self._fit(
            *distill_request(config, method, resume, overwrite, allow_method_change, self.log)
        )

    def evaluate(
        self,
        model: Optional[str],
        checkpoint: Union[str, os.PathLike[str]],
        dataset: Optional[str] = None,
        root: Optional[str] = None,
        batch_size: int = 256,
        subset: Optional[int] = None,
        device: str = "auto",
    ) -> float:
        """Top-1 test accuracy (%) of zoo model ``model`` with weights from ``checkpoint``.

        ``model`` and ``dataset`` may be ``None``: a ``model.pt`` or ``last.pt`` of a
        graphkd run records both (see :func:`recorded_model`).
        """
        return evaluate_checkpoint(
            model, checkpoint, dataset, root, batch_size, subset, device, self.progress
        )

    def _fit(self, config: Config, request: RunRequest) -> RunResult:
        deterministic = torch.are_deterministic_algorithms_enabled()
        cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
        context = setup_distributed(resolve_device(config.run.device))
        try:
            return self._run(config, request, context)
        finally:  # leave the process-wide switches as they were
            context.close()
            torch.use_deterministic_algorithms(deterministic)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn

    def _run(self, config: Config, request: RunRequest, context: DistributedContext) -> RunResult:
        """One run, top to bottom: check, data and models, optimisers, restore, epochs.

        Nothing is written before the first epoch has finished (:func:`start_records`).
        """
        start_time = time.time()
        resume_from = checked_on_every_rank(config, request, context)
        # every rank draws its own augmentations; DDP copies rank 0's initial weights
        seed_everything(config.run.seed + context.rank, deterministic=config.run.deterministic)
        data_config, workers_note = workers_for_cpus(config.data)
        config = dataclasses.replace(config, data=data_config)
        if context.is_main:
            log_config_notes(config, workers_note, self.log)
            log_data_source(config.data, self.log)
        with data_errors_in_config_terms():
            base_set = training_set(config.data, config.run.seed)
        models = build_models(config, request.arch, request.with_teacher, base_set, context)
        data = prepare_data(config, base_set, models)
        optimizers = build_optimizers(config.optim, config.run, models, context.device)
        logs = open_logs(request.output, models.stages, config.run.tensorboard)
        run = Run(config, request, context, data, models, optimizers, logs)
        restore(run, resume_from, self.log)
        if context.is_main:
            announce_stages(run, self.log)
        try:
            self._epoch_loop(run)
        except KeyboardInterrupt:
            raise RunInterrupted(
                run.output, run.saved_epochs, run.start_epoch, run.total_epochs
            ) from None
        finally:
            if logs.tensorboard is not None:
                logs.tensorboard.close()
        return finish_run(run, start_time)

    def _epoch_loop(self, run: Run) -> None:
        """Train every remaining epoch of every stage, logging and checkpointing each."""
        models, context = run.models, run.context
        for epoch in range(run.start_epoch, run.total_epochs):
            began = time.time()
            stage = stage_at(models.stages, epoch)
            label = epoch_label(run, stage, epoch)
            if models.distiller is not None:
                models.distiller.set_stage(stage.name)
                models.distiller.set_epoch(epoch)
            if stage.trains == "distiller":
                terms = self._distiller_epoch(run, epoch, stage, label)
            else:
                terms = self._student_epoch(run, epoch, label)
            rng = context.all_gather(rng_state())
            if context.is_main:
                start_records(run)
                tested = None
                if stage.trains != "distiller":
                    tests, device, title = run.data.tests, context.device, f"{label} test"
                    tested = evaluate(models.student, tests, device, self.progress, title)
                    run.test_acc, run.best = tested[0], max(run.best, tested[0])
                append_epoch_row(run, epoch, stage, terms, began, tested)
                save_checkpoint(run, epoch, rng)
                run.saved_epochs = epoch + 1
                accuracy = f"test acc {run.test_acc:.2f}% " if tested is not None else ""
                self.log(f"{label} loss {terms['loss']:.4f} {accuracy}({time.time() - began:.0f}s)")
                if tested is not None:
                    note_loss_scale(run, tested[1], self.log)
            context.barrier()

    def _distiller_epoch(self, run: Run, epoch: int, stage: Stage, label: str) -> Dict[str, float]:
        """One epoch of a distiller-only stage (e.g. MHGD's attention networks)."""
        models, optimizer = run.models, run.optimizers.stage_optimizer
        assert optimizer is not None and models.distiller is not None
        step = StageStep(
            models.teachers,
            run.data.own_view,
            models.distiller,
            optimizer,
            run.context,
            stage.name,
            BatchOrder.of(run.config),
            epoch,
        )
        return train_distiller_epoch(step, run.data.train_set, self.progress, label)

    def _student_epoch(self, run: Run, epoch: int, label: str) -> Dict[str, Any]:
        """One epoch of the student, then one scheduler step; the terms carry the epoch's
        learning rate as ``"lr"``."""
        models, optimizers, config = run.models, run.optimizers, run.config
        step = StudentStep(
            models.student_step,
            models.teachers,
            run.data.own_view,
            models.distiller,
            optimizers.optimizer,
            optimizers.scaler,
            run.context,
            config.run,
            config.method.graph_batch,
            BatchOrder.of(config),
            epoch,
        )
        terms = train_epoch(step, run.data.train_set, self.progress, label)
        lr = optimizers.optimizer.param_groups[0]["lr"]
        optimizers.scheduler.step()
        return {**terms, "lr": lr}
