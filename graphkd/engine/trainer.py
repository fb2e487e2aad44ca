"""Teacher training and distillation loops with exact resume, CSV logs and AMP."""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import inspect
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from graphkd.data import (
    DATASETS,
    DatasetInfo,
    SeededSamples,
    WithIndex,
    create_dataset,
    dataset_info,
)
from graphkd.data.device_batches import DeviceBatches, channels_last, resident_images
from graphkd.data.paths import DOWNLOAD_FIX, resolve_root
from graphkd.distill import (
    Distiller,
    Stage,
    check_method_options,
    create_method,
    method_arguments,
)
from graphkd.distill.ensemble import ENSEMBLE_MODES, EnsembleDistiller
from graphkd.engine.checkpoint import (
    LAST,
    rng_state,
    save_training_checkpoint,
    set_rng_state,
)
from graphkd.engine.config import (
    Config,
    MethodConfig,
    config_to_dict,
    milestones_beyond_epochs,
    save_config,
)
from graphkd.engine.curves import plot_curves
from graphkd.engine.distributed import DistributedContext, setup_distributed
from graphkd.engine.epochs import autocast_dtype, train_distiller_epoch, train_epoch
from graphkd.engine.global_batch import GRAPH_BATCHES
from graphkd.engine.method_setup import (
    known_values,
    method_stages,
    needs_virtual_view,
    preact_taps,
)
from graphkd.engine.metrics_log import MetricsLog
from graphkd.engine.run_checks import (
    CROSS_ENTROPY,
    ResumePoint,
    check_method,
    check_model,
    check_run,
    check_teacher_checkpoint,
    epoch_options_note,
    resolve_device,
    stage_epoch_options,
)
from graphkd.engine.run_folder import remove_run_records
from graphkd.engine.seed import seed_everything
from graphkd.engine.tensorboard_log import TensorBoardLog
from graphkd.engine.training_views import check_augmentations, training_transform
from graphkd.models import TappedModel, create_network, has_pretrained_weights, load_checkpoint, tap

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


@dataclass
class RunResult:
    """What a finished training run produced.

    Parameters
    ----------
    output : pathlib.Path
        The run directory.
    test_acc : float
        Top-1 test accuracy (%) after the last epoch.
    best_acc : float
        Best top-1 test accuracy (%) over the epochs.
    epochs : int
        Epochs trained in total.
    seconds : float
        Wall time of this call.
    """

    output: Path
    test_acc: float
    best_acc: float
    epochs: int
    seconds: float

    @property
    def model_path(self) -> Path:
        """The final weights, ``{"format": "graphkd", "model": state_dict, ...}``."""
        return self.output / "model.pt"

    @property
    def checkpoint(self) -> Path:
        """The last training checkpoint."""
        return self.output / LAST

    @property
    def metrics(self) -> Path:
        """The per-epoch CSV log."""
        return self.output / "metrics.csv"


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run's epochs, saying what the run folder keeps.

    Attributes
    ----------
    output : Path
        The run folder.
    saved_epochs : int or None
        Epochs that ``output/last.pt`` holds, ``None`` when no epoch finished since the
        run began (a resumed run's checkpoint is then unchanged).
    start_epoch : int
        Epochs the run had resumed after (0 for a fresh start).
    total_epochs : int
        Epochs of the whole run.
    """

    def __init__(
        self, output: Path, saved_epochs: Optional[int], start_epoch: int, total_epochs: int
    ) -> None:
        super().__init__(output, saved_epochs, start_epoch, total_epochs)
        self.output, self.saved_epochs = output, saved_epochs
        self.start_epoch, self.total_epochs = start_epoch, total_epochs

    def __str__(self) -> str:
        if self.saved_epochs is not None:
            last = self.output / "last.pt"
            return f"{last} holds epoch {self.saved_epochs} of {self.total_epochs}"
        if self.start_epoch > 0:
            return (
                f"no epoch finished after the resume from epoch {self.start_epoch}; the "
                "checkpoint resumed from is unchanged"
            )
        return f"the first epoch had not finished, so nothing was saved in {self.output}"


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _workers_for_cpus(config: Config) -> Tuple[Config, Optional[str]]:
    """``config`` with ``data.workers`` at most the usable CPUs (more only make PyTorch
    warn and the workers compete), and a note saying so, or ``None``."""
    cpus = _usable_cpus()
    if config.data.workers <= cpus:
        return config, None
    note = (
        f"data.workers {config.data.workers} is more than the {cpus} CPUs this process may "
        f"use: {cpus} data workers (--set data.workers={cpus} to say so)"
    )
    data = dataclasses.replace(config.data, workers=cpus)
    return dataclasses.replace(config, data=data), note


def _subset(dataset: Dataset, size: Optional[int], seed: int) -> Dataset:
    if size is None or size >= len(dataset):  # type: ignore[arg-type]
        return dataset
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(dataset), generator=generator)[:size]  # type: ignore[arg-type]
    return Subset(dataset, chosen.tolist())


def build_model(
    name: str, dataset: str, root: Optional[str] = None, image_size: Optional[int] = None
) -> nn.Module:
    """The network ``name`` (a zoo name, ``torchvision:...`` or ``timm:...``, see
    :func:`graphkd.models.create_network`) shaped for ``dataset`` (classes, channels,
    image size; an ``image_folder`` dataset is described from ``root``)."""
    info = dataset_info(dataset, root, image_size)
    return create_network(
        name,
        num_classes=info.num_classes,
        in_channels=info.in_channels,
        input_size=info.image_size,
    )


def test_loader(
    dataset: str,
    root: Optional[str] = None,
    batch_size: int = 256,
    subset: Optional[int] = None,
    workers: int = 0,
    seed: int = 0,
    download: bool = False,
    image_size: Optional[int] = None,
) -> DataLoader:
    """The test split of ``dataset`` with its evaluation transform, in a fixed order."""
    test_set = create_dataset(
        dataset, root=root, train=False, download=download, image_size=image_size
    )
    data = _subset(test_set, subset, seed)
    # its own generator: iterating must not draw from the global RNG the training uses
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        data,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        generator=generator,
        persistent_workers=workers > 0,
    )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    progress: bool = False,
    label: str = "test",
) -> Tuple[float, float]:
    """Top-1 accuracy (%) and mean cross-entropy of ``model`` on ``loader``.

    ``model`` may be a plain network (returns logits) or a :class:`TappedModel`;
    ``progress`` shows a bar titled ``label``.
    """
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for images, labels in tqdm(loader, desc=label, leave=False, disable=not progress):
        images, labels = images.to(device), labels.to(device)
        out = model(images)
        logits = out.logits if not isinstance(out, Tensor) else out
        correct += (logits.argmax(1) == labels).sum()
        loss += F.cross_entropy(logits.float(), labels, reduction="sum").double()
        count += labels.numel()
    model.train(was_training)
    if count == 0:
        raise ValueError("the evaluation set is empty; check data.test_subset")
    return 100.0 * correct.item() / count, loss.item() / count


@dataclass
class _Models:
    """The networks of a run: the tapped student, the frozen teachers, the method's
    distiller (``None`` for ``"ce"``) and its stages; ``student_step`` is the student a
    training step calls (wrapped in DDP when distributed)."""

    student: TappedModel
    teachers: List[TappedModel]
    distiller: Optional[Distiller]
    stages: List[Stage]
    student_step: nn.Module

    @property
    def stage_epochs(self) -> int:
        """Epochs of the distiller-only stages before the student's."""
        return sum(int(stage.epochs or 0) for stage in self.stages[:-1])


@dataclass
class _Data:
    """The indexed training set (each model's views; batched per epoch by
    :func:`~graphkd.engine.epochs.train_loader`), which view each teacher sees, and the
    test batches."""

    train_set: Dataset
    own_view: List[Optional[int]]
    tests: DataLoader


@dataclass
class _Optimizers:
    """SGD and its schedule for the student's stage, the distiller-only stages' SGD
    (``None`` without such stages) and the AMP gradient scaler."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    stage_optimizer: Optional[torch.optim.Optimizer]
    scaler: Any


@dataclass
class _Logs:
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


@dataclass
class _Request:
    """What the caller asked of one run: train ``arch`` (named by config key
    ``arch_key``) into ``output``, with or without teachers, and how to treat an
    earlier run there."""

    arch: str
    arch_key: str
    output: Path
    with_teacher: bool
    resume: Union[bool, str] = False
    overwrite: bool = False
    allow_method_change: bool = False


@dataclass
class _Run:
    """The parts of one training run, built in order by :meth:`Trainer._run`, and where
    it stands: ``start_epoch`` and ``best``/``test_acc`` after a resume, whether its
    records (``config.yaml``, the logs) have been started."""

    config: Config
    request: _Request
    context: DistributedContext
    data: _Data
    models: _Models
    optimizers: _Optimizers
    logs: _Logs
    start_epoch: int = 0
    best: float = -math.inf
    test_acc: float = math.nan
    records_started: bool = False
    saved_epochs: Optional[int] = None
    loss_scale_noted: bool = False

    @property
    def output(self) -> Path:
        return self.request.output

    @property
    def total_epochs(self) -> int:
        """Epochs of every stage together."""
        return self.models.stage_epochs + self.config.optim.epochs


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
        self.log = _print_now if log is None else log

    def train_teacher(
        self, config: Config, resume: Union[bool, str] = False, overwrite: bool = False
    ) -> RunResult:
        """Train ``config.model.teacher`` with cross-entropy into ``<run.output>/teacher``.

        ``resume`` and ``overwrite`` as in :meth:`distill`.
        """
        config = dataclasses.replace(config, method=MethodConfig(CROSS_ENTROPY, {}))
        output = Path(config.run.output) / "teacher"
        request = _Request(config.model.teacher, "model.teacher", output, False, resume, overwrite)
        return self._fit(config, request)

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
        if method is not None and method != config.method.name:
            if config.method.options:
                self.log(
                    f"method.options {config.method.options} belong to the config's method "
                    f"{config.method.name!r} and are not used for {method!r}"
                )
            switched = dataclasses.replace(config.method, name=method, options={})
            config = dataclasses.replace(config, method=switched)
        check_method(config.method.name)
        if config.method.name != CROSS_ENTROPY:
            check_method_options(config.method.name, config.method.options)
        for key, value, valid in (
            ("method.graph_batch", config.method.graph_batch, GRAPH_BATCHES),
            ("method.ensemble", config.method.ensemble, ENSEMBLE_MODES),
        ):
            if value not in valid:
                raise ValueError(f"{key} must be one of {', '.join(valid)}, got {value!r}")
        with_teacher = config.method.name != CROSS_ENTROPY
        own_teacher = Path(config.run.output) / "teacher" / "model.pt"
        model = config.model
        if (
            with_teacher
            and not model.teachers
            and not model.teacher_checkpoint
            and not has_pretrained_weights(model.teacher)
        ):
            if not own_teacher.is_file():
                raise ValueError(
                    f"method {config.method.name!r} needs a trained teacher, and there is none "
                    f"at {own_teacher}; train one with `graphkd train-teacher` (same config) "
                    "or set model.teacher_checkpoint=<path to its model.pt>"
                )
            model = dataclasses.replace(config.model, teacher_checkpoint=str(own_teacher))
            config = dataclasses.replace(config, model=model)
        output = Path(config.run.output) / method_folder(config.method.name)
        request = _Request(
            config.model.student,
            "model.student",
            output,
            with_teacher,
            resume,
            overwrite,
            allow_method_change,
        )
        return self._fit(config, request)

    def _fit(self, config: Config, request: _Request) -> RunResult:
        deterministic = torch.are_deterministic_algorithms_enabled()
        cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
        context = setup_distributed(resolve_device(config.run.device))
        try:
            return self._run(config, request, context)
        finally:  # leave the process-wide switches as they were
            context.close()
            torch.use_deterministic_algorithms(deterministic)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn

    def _run(self, config: Config, request: _Request, context: DistributedContext) -> RunResult:
        """One run, top to bottom: check, data and models, optimisers, restore, epochs.

        Nothing is written before the first epoch has finished (:meth:`_start_records`).
        """
        start_time = time.time()
        resume_from = _checked_on_every_rank(config, request, context)
        # every rank draws its own augmentations; DDP copies rank 0's initial weights
        seed_everything(config.run.seed + context.rank, deterministic=config.run.deterministic)
        config, workers_note = _workers_for_cpus(config)
        if context.is_main:
            method, epochs = config.method, config.optim.epochs
            for note in (
                milestones_beyond_epochs(config.optim),
                workers_note,
                epoch_options_note(method.name, method.options, epochs),
            ):
                if note is not None:
                    self.log(note)
            self._log_data_source(config)
        with _data_errors_in_config_terms():
            base_set = _training_set(config)
        models = _build_models(config, request.arch, request.with_teacher, base_set, context)
        data = _prepare_data(config, base_set, models)
        optimizers = _build_optimizers(config, models, context.device)
        logs = _open_logs(request.output, models.stages, config.run.tensorboard)
        run = _Run(config, request, context, data, models, optimizers, logs)
        self._restore(run, resume_from)
        if context.is_main:
            self._announce(run)
        try:
            self._epoch_loop(run)
        except KeyboardInterrupt:
            raise RunInterrupted(
                run.output, run.saved_epochs, run.start_epoch, run.total_epochs
            ) from None
        finally:
            if logs.tensorboard is not None:
                logs.tensorboard.close()
        return _finish(run, start_time)

    def _log_data_source(self, config: Config) -> None:
        """Say which files the run reads, or that it downloads the dataset."""
        data = config.data
        cls = DATASETS.get(data.dataset)
        if hasattr(cls, "describe"):  # a folder dataset: where its images are and how many
            try:
                info = dataset_info(data.dataset, data.root, data.image_size)
            except (FileNotFoundError, ValueError):
                return  # building the data reports it
            self.log(
                f"data: {data.dataset} from {resolve_root(data.root)}: {info.num_classes} "
                f"classes, {info.train_size} training images (train/), {info.test_size} "
                f"validation images (val/), {info.image_size}-pixel crops"
            )
            return
        if not hasattr(cls, "find_files"):
            return
        for train in (True, False):
            split = "training" if train else "test"
            found = cls.find_files(data.root, train)
            if found is not None:
                self.log(f"data: {data.dataset} {split} split from {', '.join(map(str, found))}")
            elif data.download:
                self.log(
                    f"data: no local copy of the {data.dataset} {split} split; downloading it "
                    f"into {resolve_root(data.root)} (data.download=true)"
                )

    def _restore(self, run: _Run, resume_from: Optional[ResumePoint]) -> None:
        """Continue from the checkpoint ``resume_from`` (weights, optimisers, scaler,
        generators, epoch, accuracies); a checkpoint that does not fit is refused with
        the part that differs."""
        if resume_from is None:
            return
        path, state = resume_from
        if state is None:
            if run.context.is_main:
                self.log(f"no checkpoint at {path}; starting from scratch")
            return
        models, optimizers, context = run.models, run.optimizers, run.context
        parts: List[Tuple[str, Callable[[], Any]]] = [
            ("model", lambda: models.student.model.load_state_dict(state["model"])),
            ("optimizer", lambda: optimizers.optimizer.load_state_dict(state["optimizer"])),
            (
                "scheduler",
                lambda: optimizers.scheduler.load_state_dict(
                    _scheduler_state_from_checkpoint(state["scheduler"])
                ),
            ),
            ("scaler", lambda: optimizers.scaler.load_state_dict(state["scaler"])),
        ]
        distiller = models.distiller
        if distiller is not None:
            parts.append(("distiller", lambda: distiller.load_state_dict(state["distiller"])))
        if optimizers.stage_optimizer is not None:
            stage_optimizer = optimizers.stage_optimizer
            parts.append(
                (
                    "stage_optimizer",
                    lambda: stage_optimizer.load_state_dict(state["stage_optimizer"]),
                )
            )
        for part, load in parts:
            try:
                load()
            except (RuntimeError, ValueError, KeyError, TypeError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                raise ValueError(
                    f"checkpoint {path} does not fit this run's {part} ({first}); resume with "
                    f"the config it was saved with (config.yaml beside it)"
                ) from None
        ranks = state.get("rng_ranks", [])
        same_world = context.active and len(ranks) == context.world_size
        set_rng_state(ranks[context.rank] if same_world else state["rng"])
        run.start_epoch, run.best = int(state["epoch"]), float(state["best_acc"])
        run.test_acc = float(state.get("test_acc", math.nan))
        if context.is_main:
            left = run.total_epochs - run.start_epoch
            rest = (
                f"{left} of {run.total_epochs} epochs to go"
                if left > 0
                else "nothing left to train (raise optim.epochs to train longer)"
            )
            self.log(f"resumed from {path} after epoch {run.start_epoch}; {rest}")

    def _announce(self, run: _Run) -> None:
        """Say up front how many epochs each stage of a multi-stage method runs."""
        stages = run.models.stages
        if len(stages) < 2:
            return
        method = run.config.method
        options = list(stage_epoch_options(method.name, method.options).items())
        parts = []
        for number, stage in enumerate(stages, 1):
            epochs, trains = _stage_length(run, stage), stage.trains
            log = "metrics.csv" if stage is stages[-1] else f"metrics_{stage.name}.csv"
            key = "optim.epochs" if stage is stages[-1] else "the method's options"
            if stage is not stages[-1]:
                named = [k for k, v in options if v == epochs]
                if named:
                    key = f"method.options.{named[0]}"
                    options = [(k, v) for k, v in options if k != named[0]]
            plural = "" if epochs == 1 else "s"
            parts.append(
                f"{number}. {stage.name}: {epochs} epoch{plural} training the {trains} "
                f"({key}; {log})"
            )
        self.log(
            f"[{run.output.name}] {len(stages)} stages, {run.total_epochs} epochs in all: "
            + "; ".join(parts)
        )

    def _epoch_loop(self, run: _Run) -> None:
        """Train every remaining epoch of every stage, logging and checkpointing each."""
        models, context = run.models, run.context
        for epoch in range(run.start_epoch, run.total_epochs):
            began = time.time()
            stage = _stage_at(models.stages, epoch)
            label = _epoch_label(run, stage, epoch)
            if models.distiller is not None:
                models.distiller.set_stage(stage.name)
                models.distiller.set_epoch(epoch)
            if stage.trains == "distiller":
                terms = self._distiller_epoch(run, epoch, stage, label)
            else:
                terms = self._student_epoch(run, epoch, label)
            rng = context.all_gather(rng_state())
            if not context.is_main:
                context.barrier()
                continue
            self._start_records(run)
            row: Dict[str, object] = {"epoch": epoch + 1 - _stage_start(models.stages, stage.name)}
            if stage.trains == "distiller":
                row.update({f"train_{k}": v for k, v in terms.items()})
                row["seconds"] = time.time() - began
                run.logs.append(row, stage.name)
            else:
                run.test_acc, test_loss = evaluate(
                    models.student, run.data.tests, context.device, self.progress, f"{label} test"
                )
                run.best = max(run.best, run.test_acc)
                row["lr"] = terms.pop("lr")
                row.update({f"train_{k}": v for k, v in terms.items()})
                row.update(
                    {
                        "test_loss": test_loss,
                        "test_acc": run.test_acc,
                        "seconds": time.time() - began,
                    }
                )
                run.logs.append(row)
            _save_checkpoint(run, epoch, rng)
            run.saved_epochs = epoch + 1
            accuracy = f"test acc {run.test_acc:.2f}% " if stage.trains == "student" else ""
            self.log(f"{label} loss {terms['loss']:.4f} {accuracy}({time.time() - began:.0f}s)")
            if "test_loss" in row:
                self._note_loss_scale(run, float(row["test_loss"]))  # type: ignore[arg-type]
            context.barrier()

    def _note_loss_scale(self, run: _Run, test_loss: float) -> None:
        """Once per run: say what a test loss far above chance level means."""
        if run.loss_scale_noted or not test_loss > 10 * math.log(2):
            return
        chance = math.log(_dataset_info(run.config).num_classes)
        if test_loss > 10 * chance:
            run.loss_scale_noted = True
            self.log(
                f"[{run.output.name}] test loss {test_loss:.4g} is the student's test "
                f"cross-entropy (the same measure for every method), far above "
                f"{chance:.2f} for uniform guesses: its logits have grown very large, as a "
                f"method's strong weight does in a few steps on small batches; lower "
                f"optim.lr or the method's weight (the train_<term> columns show which "
                f"term grows)"
            )

    def _start_records(self, run: _Run) -> None:
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
                max(
                    0, min(run.start_epoch, _stage_end(stages, stage)) - _stage_start(stages, stage)
                )
            )
        save_config(run.config, run.output / "config.yaml")
        run.records_started = True

    def _distiller_epoch(self, run: _Run, epoch: int, stage: Stage, label: str) -> Dict[str, float]:
        """One epoch of a distiller-only stage (e.g. MHGD's attention networks)."""
        models, optimizers = run.models, run.optimizers
        assert optimizers.stage_optimizer is not None and models.distiller is not None
        return train_distiller_epoch(
            run.config,
            epoch,
            stage.name,
            run.data.train_set,
            models.teachers,
            run.data.own_view,
            models.distiller,
            optimizers.stage_optimizer,
            run.context,
            self.progress,
            label,
        )

    def _student_epoch(self, run: _Run, epoch: int, label: str) -> Dict[str, float]:
        """One epoch of the student, then one scheduler step; the terms carry the epoch's
        learning rate as ``"lr"``."""
        models, optimizers = run.models, run.optimizers
        terms = train_epoch(
            run.config,
            epoch,
            run.data.train_set,
            models.student_step,
            models.teachers,
            run.data.own_view,
            models.distiller,
            optimizers.optimizer,
            optimizers.scaler,
            run.context,
            self.progress,
            label,
        )
        lr = optimizers.optimizer.param_groups[0]["lr"]
        optimizers.scheduler.step()
        return {**terms, "lr": lr}

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
        if model is not None:
            check_model(model)
        if dataset is not None:
            DATASETS.get(dataset)  # raises for an unknown name, listing the valid ones
        saved_model, saved_dataset = recorded_model(checkpoint)
        if model is not None and saved_model is not None and model != saved_model:
            raise ValueError(
                f"{checkpoint} holds a {saved_model} (the file records it), not a {model}; "
                f"give model {saved_model} (CLI: --model {saved_model}) or leave it out"
            )
        model, dataset = model or saved_model, dataset or saved_dataset
        for value, what in ((model, "model"), (dataset, "dataset")):
            if value is None:
                raise ValueError(
                    f"{checkpoint} does not record its {what}; give it (CLI: --{what} NAME, "
                    "see `graphkd list`)"
                )
        assert model is not None and dataset is not None
        if root is None and getattr(DATASETS.get(dataset), "describe", None) is not None:
            try:
                dataset_info(dataset)
            except FileNotFoundError:
                raise ValueError(
                    f"{checkpoint} was trained on an {dataset} dataset, which is read from "
                    f"its folder: give the folder holding train/ and val/ (CLI: --root FOLDER)"
                ) from None
        net = build_model(model, dataset, root)
        try:
            load_checkpoint(net, str(checkpoint))
        except ValueError:
            if saved_dataset is None or dataset == saved_dataset:
                raise
            raise ValueError(
                f"{checkpoint} holds a {model} trained on {saved_dataset} (the file records "
                f"it), which does not fit {dataset}'s images and classes; evaluate it on "
                f"{saved_dataset} (CLI: leave out --dataset)"
            ) from None
        target = resolve_device(device)
        tests = test_loader(dataset, root, batch_size, subset)
        accuracy, _ = evaluate(net.to(target), tests, target, self.progress, f"{model} test")
        return accuracy


def recorded_model(checkpoint: Union[str, os.PathLike[str]]) -> Tuple[Optional[str], Optional[str]]:
    """The architecture and dataset a graphkd ``model.pt`` or ``last.pt`` records
    (``None`` for what a file does not record, e.g. a plain state dict).

    Raises
    ------
    FileNotFoundError
        No file at ``checkpoint``.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; give a model.pt or last.pt")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict):
        return None, None
    config = saved.get("config") or {}
    arch = saved.get("arch")
    dataset = saved.get("dataset") or config.get("data", {}).get("dataset")
    return (
        arch if isinstance(arch, str) else None,
        dataset if isinstance(dataset, str) else None,
    )


def method_folder(method: str) -> str:
    """The run directory name of ``method``: itself, or ``factory`` for ``module:factory``."""
    return method.rsplit(":", 1)[-1]


def _checked_on_every_rank(
    config: Config, request: _Request, context: DistributedContext
) -> Optional[ResumePoint]:
    """:func:`check_run` on every rank; a problem found on any rank stops all of them
    (rather than leaving the others waiting in the first collective)."""
    problem: Optional[Exception] = None
    resume_from = None
    try:
        resume_from = check_run(
            config,
            request.arch,
            request.arch_key,
            request.output,
            request.resume,
            request.overwrite,
            request.allow_method_change,
            context.world_size,
        )
    except (ValueError, FileNotFoundError) as error:
        problem = error
    problems = context.all_gather(None if problem is None else str(problem))
    if problem is not None:
        raise problem
    for rank, message in enumerate(problems):
        if message is not None:
            raise ValueError(f"rank {rank}: {message}")
    _check_resume_on_every_rank(resume_from, context)
    return resume_from


def _check_resume_on_every_rank(
    resume_from: Optional[ResumePoint], context: DistributedContext
) -> None:
    """Every rank resumes, or none does: a checkpoint that some machines cannot read
    would leave them training from scratch beside the others."""
    found = resume_from is not None and resume_from[1] is not None
    seen = context.all_gather(found)
    if len(set(seen)) > 1:
        path = None if resume_from is None else resume_from[0]
        missing = [rank for rank, ok in enumerate(seen) if not ok]
        readers = [rank for rank, ok in enumerate(seen) if ok]
        raise FileNotFoundError(
            f"ranks {missing} cannot read {path}, which rank(s) {readers} resume from; put "
            "run.output on storage every machine reads, or copy last.pt there on every machine"
        )


@contextlib.contextmanager
def _data_errors_in_config_terms() -> Iterator[None]:
    """Say a dataset's download fix as the config key (and its command-line form)."""
    try:
        yield
    except (FileNotFoundError, ValueError) as error:
        if DOWNLOAD_FIX not in str(error):
            raise
        setting = "set data.download=true (CLI: --set data.download=true)"
        raise type(error)(str(error).replace(DOWNLOAD_FIX, setting)) from None


def _build_models(
    config: Config, arch: str, with_teacher: bool, train_set: Dataset, context: DistributedContext
) -> _Models:
    """The student ``arch``, the configured teachers (frozen) and the method's distiller,
    on the run's device; under DDP the modules that train are wrapped."""
    device = context.device
    teacher_specs = _teacher_specs(config) if with_teacher else []
    check_augmentations(config, len(teacher_specs))
    # a method reading pre-activation stage outputs (OFD, AB) gets them from every network
    preact = with_teacher and preact_taps(config.method.name, config.method.options)
    with torch.random.fork_rng(devices=[]):  # the same initial student for every method
        torch.manual_seed(config.run.seed)
        student = tap(_network(config, arch), preact=preact).to(device)
    teachers = [
        _frozen_teacher(
            config, arch_, weights, None if not config.model.teachers else k, device, preact
        )
        for k, (arch_, weights) in enumerate(teacher_specs)
    ]
    distiller = _create_distiller(config, train_set, student, teachers, device)
    stages = method_stages(distiller)
    student_step: nn.Module = student
    if context.active:  # DDP wraps the student; the frozen teacher stays as it is
        ids = [device] if device.type == "cuda" else None
        # a method with a virtual view runs the student twice per step; broadcasting
        # rank 0's BatchNorm buffers at the second forward would overwrite statistics the
        # first one saved for backward, so each rank keeps its own (rank 0's are saved)
        # (newer torch names the switch forward_sync_buffers)
        sync = "forward_sync_buffers"
        if sync not in inspect.signature(DistributedDataParallel).parameters:
            sync = "broadcast_buffers"
        options = {sync: False} if needs_virtual_view(distiller) else {}
        student_step = DistributedDataParallel(student, device_ids=ids, **options)
        if distiller is not None:
            # the distiller starts from rank 0's parameters and its gradients are averaged
            # after each backward (train_epoch), which copes with parameters a step leaves
            # unused; its memory banks are synchronised by the method itself (after_step)
            context.broadcast_parameters(distiller)
    return _Models(student, teachers, distiller, stages, student_step)


def _prepare_data(config: Config, base_set: Dataset, models: _Models) -> _Data:
    """The training set with the views the models need (a virtual view for methods that
    ask for one, a view per teacher under ``data.augmentation``), indexed and batched,
    and the test batches; ``base_set`` (the standard transform) is reused when that is
    all it takes."""
    data = config.data
    info = _dataset_info(config)
    virtual = needs_virtual_view(models.distiller)
    transform, own_view = training_transform(config, info, len(models.teachers), virtual)
    with _data_errors_in_config_terms():
        if virtual or data.augmentation != "standard" or any(i is not None for i in own_view):
            base_set = _training_set(config, transform)
        tests = test_loader(
            data.dataset,
            data.root,
            data.test_batch_size,
            data.test_subset,
            data.workers,
            config.run.seed,
            data.download,
            data.image_size,
        )
    if data.on_device:
        train_set: Dataset = on_device_training_set(config, base_set, models, own_view, virtual)
    else:
        train_set = SeededSamples(WithIndex(base_set), config.run.seed)
    return _Data(train_set, own_view, tests)


def on_device_training_set(
    config: Config,
    base_set: Dataset,
    models: _Models,
    own_view: List[Optional[int]],
    virtual: bool,
) -> DeviceBatches:
    """``data.on_device``: the training set resident on the run's device (and the models in
    ``channels_last`` on CUDA), after checking that the run asks only for what it does."""
    data, device = config.data, next(models.student.parameters()).device
    unsupported = [
        text
        for text, used in (
            (f"data.augmentation={data.augmentation}", data.augmentation != "standard"),
            ("model.teacher_augmentations", any(i is not None for i in own_view)),
            ("several processes (DDP)", models.student_step is not models.student),
        )
        if used
    ]
    if unsupported:
        raise ValueError(
            f"data.on_device supports the standard augmentation and the virtual view in one "
            f"process, not {', '.join(unsupported)}; set data.on_device=false"
        )
    fast = device.type == "cuda"
    if fast:
        channels_last([models.student, *models.teachers])
    images, labels = resident_images(base_set)
    info = _dataset_info(config)
    return DeviceBatches(images, labels, info, device, virtual, channels_last=fast)


def _build_optimizers(config: Config, models: _Models, device: torch.device) -> _Optimizers:
    """SGD with a multi-step schedule over the student's (and the distiller's) trainable
    parameters; distiller-only stages (e.g. MHGD's attention networks) get an SGD of
    their own without weight decay, since their losses carry their own regularisation."""
    optim, distiller = config.optim, models.distiller
    trainable = [p for p in models.student.parameters() if p.requires_grad]
    if distiller is not None:
        trainable += [p for p in distiller.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        trainable,
        lr=optim.lr,
        momentum=optim.momentum,
        weight_decay=optim.weight_decay,
        nesterov=optim.nesterov,
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(optim.milestones), gamma=optim.gamma
    )
    stage_optimizer = (
        torch.optim.SGD(
            [p for p in distiller.parameters() if p.requires_grad],
            lr=optim.lr,
            momentum=optim.momentum,
            weight_decay=0.0,
            nesterov=optim.nesterov,
        )
        if distiller is not None and models.stage_epochs
        else None
    )
    float16 = autocast_dtype(config.run, device) == torch.float16
    scaler = _grad_scaler(device, enabled=config.run.amp and float16 and device.type == "cuda")
    return _Optimizers(optimizer, scheduler, stage_optimizer, scaler)


def _open_logs(output: Path, stages: List[Stage], tensorboard: bool) -> _Logs:
    """The run's logs (nothing is written until the first row arrives)."""
    return _Logs(
        MetricsLog(output / "metrics.csv"),
        {stage.name: MetricsLog(output / f"metrics_{stage.name}.csv") for stage in stages[:-1]},
        TensorBoardLog(output) if tensorboard else None,
    )


def _save_checkpoint(run: _Run, epoch: int, rng: List[Any]) -> None:
    """``last.pt`` after global epoch ``epoch`` (0-based): everything a resume restores,
    with every rank's generators (``rng``) and the resolved config."""
    models, optimizers = run.models, run.optimizers
    stage_optimizer = optimizers.stage_optimizer
    state = {
        "format": "graphkd",
        "arch": run.request.arch,
        "epoch": epoch + 1,
        "best_acc": run.best,
        "test_acc": run.test_acc,
        "model": models.student.model.state_dict(),
        "distiller": {} if models.distiller is None else models.distiller.state_dict(),
        "optimizer": optimizers.optimizer.state_dict(),
        "scheduler": _scheduler_state_for_checkpoint(optimizers.scheduler.state_dict()),
        "scaler": optimizers.scaler.state_dict(),
        "stage_optimizer": None if stage_optimizer is None else stage_optimizer.state_dict(),
        "rng": rng[0],
        "rng_ranks": rng if run.context.active else [],
        "config": config_to_dict(run.config),
    }
    save_training_checkpoint(state, run.output)


def _finish(run: _Run, start_time: float) -> RunResult:
    """Write ``model.pt`` and ``curves.png`` (rank 0) and say what the run produced."""
    if not run.context.is_main:
        seconds = time.time() - start_time
        return RunResult(run.output, math.nan, math.nan, run.total_epochs, seconds)
    if not run.records_started:  # resumed after its last epoch: nothing was logged
        run.output.mkdir(parents=True, exist_ok=True)
    student, arch = run.models.student.model, run.request.arch
    _save_model(run.output / "model.pt", student, arch, run.config.data.dataset, run.test_acc)
    plot_curves(run.output)
    seconds = time.time() - start_time
    return RunResult(run.output, run.test_acc, run.best, run.total_epochs, seconds)


def _stage_length(run: _Run, stage: Stage) -> int:
    """Epochs of ``stage``: its own count, or ``optim.epochs`` for the student's."""
    return int(stage.epochs) if stage.epochs else run.config.optim.epochs


def _epoch_label(run: _Run, stage: Stage, epoch: int) -> str:
    """``[<run>] <what> epoch k/N`` with k and N counted within the stage, as in its CSV
    (``train`` for cross-entropy runs; ``stage i/n <stage>`` for multi-stage methods)."""
    stages = run.models.stages
    k = epoch + 1 - _stage_start(stages, stage.name)
    what = stage.name if run.models.distiller is not None else "train"
    if len(stages) > 1:
        what = f"stage {stages.index(stage) + 1}/{len(stages)} {what}"
    return f"[{run.output.name}] {what} epoch {k}/{_stage_length(run, stage)}"


def _stage_start(stages: List[Stage], name: str) -> int:
    """The global epoch at which stage ``name`` begins."""
    start = 0
    for stage in stages:
        if stage.name == name:
            return start
        start += int(stage.epochs or 0)
    raise ValueError(f"no stage named {name!r}")


def _stage_end(stages: List[Stage], name: str) -> int:
    stage = next(s for s in stages if s.name == name)
    return _stage_start(stages, name) + int(stage.epochs or 0)


def _stage_at(stages: List[Stage], epoch: int) -> Stage:
    """The stage that global epoch ``epoch`` (0-based) belongs to."""
    for stage in stages[:-1]:
        if epoch < _stage_end(stages, stage.name):
            return stage
    return stages[-1]


def _training_set(config: Config, transform: Optional[Callable] = None) -> Dataset:
    """The training split (its ``data.subset``) with ``transform`` (default: standard)."""
    data = config.data
    dataset = create_dataset(
        data.dataset,
        root=data.root,
        train=True,
        download=data.download,
        transform=transform,
        image_size=data.image_size,
    )
    return _subset(dataset, data.subset, config.run.seed)


def _dataset_info(config: Config) -> DatasetInfo:
    """The configured dataset's :class:`DatasetInfo` (an image folder's from ``data.root``)."""
    return dataset_info(config.data.dataset, config.data.root, config.data.image_size)


def _network(config: Config, name: str) -> nn.Module:
    """The network ``name`` for the configured dataset, in channels-last format
    (``run.channels_last``) and compiled (``run.compile``) when asked."""
    data = config.data
    network = build_model(name, data.dataset, data.root, data.image_size)
    if config.run.channels_last:
        network = network.to(memory_format=torch.channels_last)
    if config.run.compile:
        network.compile()
    return network


def _frozen_teacher(
    config: Config,
    arch: str,
    weights: Optional[str],
    index: Optional[int],
    device: torch.device,
    preact: bool = False,
) -> TappedModel:
    """Network ``arch`` with trained ``weights`` (checked to be saved for ``arch`` and
    the dataset when the file records them; ``None`` for a network named with pretrained
    weights), tapped (``preact``: its pre-activation stage outputs), in eval mode, without
    gradients; ``index``: its place in ``model.teachers`` (``None`` for ``model.teacher``)."""
    check_model(arch)
    if weights is None:
        return _frozen(_network(config, arch), device, preact)
    if not Path(weights).is_file():
        raise FileNotFoundError(
            f"teacher checkpoint {weights} not found; train the teacher with `graphkd "
            "train-teacher` or set model.teacher_checkpoint=<its model.pt>"
        )
    saved = torch.load(weights, map_location="cpu", weights_only=True)
    check_teacher_checkpoint(saved, weights, config, index)
    network = _network(config, arch)
    try:
        load_checkpoint(network, saved)
    except ValueError as error:
        raise ValueError(f"teacher checkpoint {weights} does not fit a {arch}: {error}") from None
    return _frozen(network, device, preact)


def _frozen(network: nn.Module, device: torch.device, preact: bool = False) -> TappedModel:
    """``network`` tapped (``preact``: before the stages' final activations), on
    ``device``, in eval mode, without gradients."""
    teacher = tap(network, preact=preact).to(device).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


def _create_distiller(
    config: Config,
    train_set: Dataset,
    student: TappedModel,
    teachers: List[TappedModel],
    device: torch.device,
) -> Optional[Distiller]:
    """The configured method (``None`` for ``"ce"``), told what it asks to know; one per
    teacher in an :class:`EnsembleDistiller` for several teachers."""
    name = config.method.name
    if name == CROSS_ENTROPY:
        return None
    info = _dataset_info(config)
    distillers = []
    for teacher in teachers or [None]:
        known = known_values(train_set, info, student, teacher, device)
        distillers.append(
            create_method(name, **{**method_arguments(name, known), **config.method.options})
        )
    if len(teachers) <= 1:
        return distillers[0].to(device)
    mode = config.method.ensemble
    members = distillers[:1] if mode == "average_logits" else distillers
    return EnsembleDistiller(members, mode).to(device)


def _teacher_specs(config: Config) -> List[Tuple[str, Optional[str]]]:
    """(network, weights file) of each teacher: the ensemble's, or the single teacher
    (weights ``None`` for a network named with pretrained weights and no checkpoint)."""
    model = config.model
    if not model.teachers:
        return [(model.teacher, model.teacher_checkpoint)]
    if len(model.teachers) != len(model.teacher_checkpoints):
        raise ValueError(
            f"model.teachers names {len(model.teachers)} teachers but model.teacher_checkpoints "
            f"gives {len(model.teacher_checkpoints)} weight files; give one per teacher"
        )
    return list(zip(model.teachers, model.teacher_checkpoints))  # type: ignore[arg-type]


def _scheduler_state_for_checkpoint(state: Dict[str, Any]) -> Dict[str, Any]:
    """MultiStepLR keeps its milestones in a Counter, which ``torch.load(weights_only=True)``
    refuses before torch 2.4; checkpoints store a plain dict."""
    return {**state, "milestones": dict(state["milestones"])}


def _scheduler_state_from_checkpoint(state: Dict[str, Any]) -> Dict[str, Any]:
    return {**state, "milestones": collections.Counter(state["milestones"])}


def _grad_scaler(device: torch.device, enabled: bool) -> Any:
    """An AMP gradient scaler (``torch.amp.GradScaler`` arrived in torch 2.3)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def _print_now(line: str) -> None:
    print(line, flush=True)


def _save_model(path: Path, model: nn.Module, arch: str, dataset: str, test_acc: float) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    state = {
        "format": "graphkd",
        "model": copy.deepcopy(model.state_dict()),
        "arch": arch,
        "dataset": dataset,
        "test_acc": test_acc,
    }
    torch.save(state, temporary)
    os.replace(temporary, path)
