"""Teacher training and distillation loops with exact resume, CSV logs and AMP."""

from __future__ import annotations

import collections
import copy
import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset

from graphkd.data import DatasetInfo, WithIndex, create_dataset, dataset_info
from graphkd.distill import Stage, create_method, list_methods, method_arguments
from graphkd.distill.ensemble import ENSEMBLE_MODES, EnsembleDistiller
from graphkd.engine.checkpoint import (
    LAST,
    read_training_checkpoint,
    rng_state,
    save_training_checkpoint,
    set_rng_state,
)
from graphkd.engine.config import Config, MethodConfig, config_to_dict, save_config
from graphkd.engine.distributed import DistributedContext, setup_distributed
from graphkd.engine.epochs import autocast_dtype, train_distiller_epoch, train_epoch, train_loader
from graphkd.engine.global_batch import GRAPH_BATCHES
from graphkd.engine.method_setup import known_values, method_stages, needs_virtual_view
from graphkd.engine.metrics_log import MetricsLog
from graphkd.engine.seed import seed_everything
from graphkd.engine.training_views import check_augmentations, training_transform
from graphkd.models import (
    TappedModel,
    create_network,
    has_pretrained_weights,
    load_checkpoint,
    parse_network,
    tap,
)

#: The method name of plain cross-entropy training (no distiller).
CROSS_ENTROPY = "ce"


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


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; any other name as ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
    image_size: Optional[int] = None,
) -> DataLoader:
    """The test split of ``dataset`` with its evaluation transform, in a fixed order."""
    test_set = create_dataset(dataset, root=root, train=False, image_size=image_size)
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
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device) -> Tuple[float, float]:
    """Top-1 accuracy (%) and mean cross-entropy of ``model`` on ``loader``.

    ``model`` may be a plain network (returns logits) or a :class:`TappedModel`.
    """
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for images, labels in loader:
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
    distiller (``None`` for ``"ce"``) and its stages; ``*_step`` are the modules a
    training step calls (wrapped in DDP when distributed)."""

    student: TappedModel
    teachers: List[TappedModel]
    distiller: Optional[nn.Module]
    stages: List[Stage]
    student_step: nn.Module
    distiller_step: Optional[nn.Module]

    @property
    def stage_epochs(self) -> int:
        """Epochs of the distiller-only stages before the student's."""
        return sum(int(stage.epochs or 0) for stage in self.stages[:-1])


@dataclass
class _Data:
    """The training batches of the indexed training set (each model's views, see
    :func:`~graphkd.engine.epochs.train_loader`), which view each teacher sees, and the
    test batches."""

    loader: DataLoader
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
    """``metrics.csv`` (the student's epochs) and ``metrics_<stage>.csv`` per earlier stage."""

    metrics: MetricsLog
    stages: Dict[str, MetricsLog]


@dataclass
class _Run:
    """The parts of one training run, built in order by :meth:`Trainer._run`, and where
    it stands (``start_epoch`` after a resume, ``best`` test accuracy so far)."""

    config: Config
    arch: str
    output: Path
    context: DistributedContext
    data: _Data
    models: _Models
    optimizers: _Optimizers
    logs: _Logs
    start_epoch: int = 0
    best: float = -math.inf

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
    weights; ``config.yaml`` with the resolved configuration. With ``resume=True`` a run
    continues from ``last.pt`` with the optimiser, scheduler, AMP scaler and random
    generators restored, so that under ``run.deterministic`` it ends with the same
    weights as an uninterrupted run.

    Parameters
    ----------
    progress : bool, optional
        Show a tqdm bar per epoch (default: only when stderr is a terminal).
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

    def train_teacher(self, config: Config, resume: Union[bool, str] = False) -> RunResult:
        """Train ``config.model.teacher`` with cross-entropy into ``<run.output>/teacher``."""
        config = dataclasses.replace(config, method=MethodConfig(CROSS_ENTROPY, {}))
        run_dir = Path(config.run.output) / "teacher"
        return self._fit(config, config.model.teacher, run_dir, with_teacher=False, resume=resume)

    def distill(
        self, config: Config, method: Optional[str] = None, resume: Union[bool, str] = False
    ) -> RunResult:
        """Distil ``config.model.teacher_checkpoint`` into ``config.model.student``.

        Parameters
        ----------
        config : Config
            The run. The teacher's weights are ``model.teacher_checkpoint``, by default
            ``<run.output>/teacher/model.pt`` (where :meth:`train_teacher` puts them).
            The student's run goes to ``<run.output>/<method>``.
        method : str, optional
            ``"ce"`` or a name of :func:`graphkd.list_methods`; default
            ``config.method.name``. Options in ``config.method.options`` apply when the
            names agree.
        resume : bool or str
            ``True``: continue from ``<output>/last.pt`` (from scratch when there is
            none); a path: continue from that checkpoint.
        """
        if method is not None and method != config.method.name:
            config = dataclasses.replace(config, method=MethodConfig(method, {}))
        _check_method(config.method.name)
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
        run_dir = Path(config.run.output) / config.method.name
        return self._fit(
            config, config.model.student, run_dir, with_teacher=with_teacher, resume=resume
        )

    def _fit(
        self,
        config: Config,
        arch: str,
        output: Path,
        with_teacher: bool,
        resume: Union[bool, str],
    ) -> RunResult:
        deterministic = torch.are_deterministic_algorithms_enabled()
        cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
        context = setup_distributed(resolve_device(config.run.device))
        try:
            return self._run(config, arch, output, with_teacher, resume, context)
        finally:  # leave the process-wide switches as they were
            context.close()
            torch.use_deterministic_algorithms(deterministic)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn

    def _run(
        self,
        config: Config,
        arch: str,
        output: Path,
        with_teacher: bool,
        resume: Union[bool, str],
        context: DistributedContext,
    ) -> RunResult:
        """One run, top to bottom: check, data and models, optimisers, restore, epochs."""
        start_time = time.time()
        _check_run(config, arch, context)
        output.mkdir(parents=True, exist_ok=True)
        # every rank draws its own augmentations; DDP copies rank 0's initial weights
        seed_everything(config.run.seed + context.rank, deterministic=config.run.deterministic)
        base_set = _training_set(config)
        models = _build_models(config, arch, with_teacher, base_set, context)
        data = _prepare_data(config, base_set, models, context)
        optimizers = _build_optimizers(config, models, context.device)
        logs = _open_logs(output, models.stages)
        run = _Run(config, arch, output, context, data, models, optimizers, logs)
        self._restore(run, resume)
        if context.is_main:
            save_config(config, output / "config.yaml")
        test_acc = self._epoch_loop(run)
        return _finish(run, test_acc, start_time)

    def _restore(self, run: _Run, resume: Union[bool, str]) -> None:
        """Continue from the checkpoint ``resume`` names (weights, optimisers, scaler,
        generators, epoch and best accuracy) and cut the logs back to it; without one,
        start the logs afresh."""
        models, optimizers, context = run.models, run.optimizers, run.context
        checkpoint_path = _resume_path(resume, run.output)
        found = checkpoint_path is not None and checkpoint_path.is_file()
        seen = context.all_gather(found)
        if len(set(seen)) > 1:
            missing = [rank for rank, ok in enumerate(seen) if not ok]
            raise FileNotFoundError(
                f"ranks {missing} cannot read {checkpoint_path}, which rank(s) "
                f"{[rank for rank, ok in enumerate(seen) if ok]} resume from; put run.output "
                "on storage every machine reads, or copy last.pt there on every machine"
            )
        if found:
            state = read_training_checkpoint(checkpoint_path)
            models.student.model.load_state_dict(state["model"])
            if models.distiller is not None:
                models.distiller.load_state_dict(state["distiller"])
            optimizers.optimizer.load_state_dict(state["optimizer"])
            optimizers.scheduler.load_state_dict(
                _scheduler_state_from_checkpoint(state["scheduler"])
            )
            optimizers.scaler.load_state_dict(state["scaler"])
            if optimizers.stage_optimizer is not None:
                optimizers.stage_optimizer.load_state_dict(state["stage_optimizer"])
            ranks = state.get("rng_ranks", [])
            same_world = context.active and len(ranks) == context.world_size
            set_rng_state(ranks[context.rank] if same_world else state["rng"])
            run.start_epoch, run.best = int(state["epoch"]), float(state["best_acc"])
            if context.is_main:
                stages = models.stages
                run.logs.metrics.truncate(max(0, run.start_epoch - models.stage_epochs))
                for stage, stage_log in run.logs.stages.items():
                    stage_log.truncate(
                        min(run.start_epoch, _stage_end(stages, stage))
                        - _stage_start(stages, stage)
                    )
                self.log(f"resumed from {checkpoint_path} at epoch {run.start_epoch}")
        elif context.is_main:
            if checkpoint_path is not None:
                self.log(f"no checkpoint at {checkpoint_path}; starting from scratch")
            run.logs.metrics.truncate(0)
            for stage_log in run.logs.stages.values():
                stage_log.truncate(0)

    def _epoch_loop(self, run: _Run) -> float:
        """Train every remaining epoch of every stage, logging and checkpointing each;
        returns the last test accuracy (NaN before the student's first epoch)."""
        models, context = run.models, run.context
        test_acc = run.best if run.start_epoch > models.stage_epochs else float("nan")
        for epoch in range(run.start_epoch, run.total_epochs):
            began = time.time()
            stage = _stage_at(models.stages, epoch)
            if hasattr(models.distiller, "set_stage"):
                models.distiller.set_stage(stage.name)  # type: ignore[union-attr,operator]
            if stage.trains == "distiller":
                terms = self._distiller_epoch(run, epoch, stage)
            else:
                terms = self._student_epoch(run, epoch)
            rng = context.all_gather(rng_state())
            if not context.is_main:
                context.barrier()
                continue
            if stage.trains == "distiller":
                row: Dict[str, object] = {
                    "epoch": epoch + 1 - _stage_start(models.stages, stage.name)
                }
                row.update({f"train_{k}": v for k, v in terms.items()})
                row["seconds"] = time.time() - began
                run.logs.stages[stage.name].append(row)
            else:
                test_acc, test_loss = evaluate(models.student, run.data.tests, context.device)
                run.best = max(run.best, test_acc)
                row = {"epoch": epoch + 1 - models.stage_epochs, "lr": terms.pop("lr")}
                row.update({f"train_{k}": v for k, v in terms.items()})
                row.update(
                    {"test_loss": test_loss, "test_acc": test_acc, "seconds": time.time() - began}
                )
                run.logs.metrics.append(row)
            _save_checkpoint(run, epoch, test_acc, rng)
            accuracy = f"test acc {test_acc:.2f}% " if stage.trains == "student" else ""
            self.log(
                f"[{run.output.name}] {stage.name} epoch {epoch + 1}/{run.total_epochs} "
                f"loss {terms['loss']:.4f} {accuracy}({time.time() - began:.0f}s)"
            )
            context.barrier()
        return test_acc

    def _distiller_epoch(self, run: _Run, epoch: int, stage: Stage) -> Dict[str, float]:
        """One epoch of a distiller-only stage (e.g. MHGD's attention networks)."""
        models, optimizers = run.models, run.optimizers
        assert optimizers.stage_optimizer is not None and models.distiller is not None
        return train_distiller_epoch(
            run.config,
            epoch,
            stage.name,
            run.data.loader,
            models.teachers,
            run.data.own_view,
            models.distiller,
            optimizers.stage_optimizer,
            run.context,
            self.progress,
        )

    def _student_epoch(self, run: _Run, epoch: int) -> Dict[str, float]:
        """One epoch of the student, then one scheduler step; the terms carry the epoch's
        learning rate as ``"lr"``."""
        models, optimizers = run.models, run.optimizers
        terms = train_epoch(
            run.config,
            epoch,
            run.data.loader,
            models.student_step,
            models.teachers,
            run.data.own_view,
            models.distiller_step,
            optimizers.optimizer,
            optimizers.scaler,
            run.context,
            self.progress,
        )
        lr = optimizers.optimizer.param_groups[0]["lr"]
        optimizers.scheduler.step()
        return {**terms, "lr": lr}

    def evaluate(
        self,
        model: str,
        checkpoint: Union[str, os.PathLike[str]],
        dataset: str,
        root: Optional[str] = None,
        batch_size: int = 256,
        subset: Optional[int] = None,
        device: str = "auto",
    ) -> float:
        """Top-1 test accuracy (%) of network ``model`` with weights from ``checkpoint``."""
        _check_model(model)
        net = build_model(model, dataset, root)
        load_checkpoint(net, str(checkpoint))
        target = resolve_device(device)
        accuracy, _ = evaluate(
            net.to(target), test_loader(dataset, root, batch_size, subset), target
        )
        return accuracy


def _check_run(config: Config, arch: str, context: DistributedContext) -> None:
    """Refuse a run that cannot start, before anything is built."""
    _check_model(arch)
    parts = context.world_size * config.optim.accumulate
    if config.data.batch_size % parts:
        raise ValueError(
            f"data.batch_size {config.data.batch_size} is the batch of one optimiser step and "
            f"must be divisible by the {context.world_size} process(es) x optim.accumulate "
            f"{config.optim.accumulate} = {parts}; change one of them"
        )


def _build_models(
    config: Config, arch: str, with_teacher: bool, train_set: Dataset, context: DistributedContext
) -> _Models:
    """The student ``arch``, the configured teachers (frozen) and the method's distiller,
    on the run's device; under DDP the modules that train are wrapped."""
    device = context.device
    teacher_specs = _teacher_specs(config) if with_teacher else []
    check_augmentations(config, len(teacher_specs))
    student = tap(_network(config, arch)).to(device)
    teachers = [_frozen_teacher(config, a, w, device) for a, w in teacher_specs]
    distiller = _create_distiller(config, train_set, student, teachers, device)
    stages = method_stages(distiller)
    student_step: nn.Module = student
    distiller_step: Optional[nn.Module] = distiller
    if context.active:  # DDP wraps only what trains; the frozen teacher stays as it is
        ids = [device] if device.type == "cuda" else None
        student_step = DistributedDataParallel(student, device_ids=ids)
        if distiller is not None and any(p.requires_grad for p in distiller.parameters()):
            # memory banks are synchronised by the method itself (after_step)
            distiller_step = DistributedDataParallel(
                distiller, device_ids=ids, find_unused_parameters=True, broadcast_buffers=False
            )
    return _Models(student, teachers, distiller, stages, student_step, distiller_step)


def _prepare_data(
    config: Config, base_set: Dataset, models: _Models, context: DistributedContext
) -> _Data:
    """The training set with the views the models need (a virtual view for methods that
    ask for one, a view per teacher under ``data.augmentation``), indexed and batched,
    and the test batches; ``base_set`` (the standard transform) is reused when that is
    all it takes."""
    data = config.data
    info = _dataset_info(config)
    virtual = needs_virtual_view(models.distiller)
    transform, own_view = training_transform(config, info, len(models.teachers), virtual)
    if virtual or data.augmentation != "standard" or any(i is not None for i in own_view):
        base_set = _training_set(config, transform)
    tests = test_loader(
        data.dataset,
        data.root,
        data.test_batch_size,
        data.test_subset,
        data.workers,
        config.run.seed,
        data.image_size,
    )
    return _Data(train_loader(config, WithIndex(base_set), context), own_view, tests)


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


def _open_logs(output: Path, stages: List[Stage]) -> _Logs:
    """The run's CSV logs (nothing is written until a row arrives or a resume trims them)."""
    return _Logs(
        MetricsLog(output / "metrics.csv"),
        {stage.name: MetricsLog(output / f"metrics_{stage.name}.csv") for stage in stages[:-1]},
    )


def _save_checkpoint(run: _Run, epoch: int, test_acc: float, rng: List[Any]) -> None:
    """``last.pt`` after global epoch ``epoch`` (0-based): everything a resume restores,
    with every rank's generators (``rng``) and the resolved config."""
    models, optimizers = run.models, run.optimizers
    stage_optimizer = optimizers.stage_optimizer
    state = {
        "format": "graphkd",
        "arch": run.arch,
        "epoch": epoch + 1,
        "best_acc": run.best,
        "test_acc": test_acc,
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


def _finish(run: _Run, test_acc: float, start_time: float) -> RunResult:
    """Write ``model.pt`` (rank 0) and say what the run produced; a run resumed after its
    last epoch reports the accuracy its checkpoint recorded."""
    if not run.context.is_main:
        seconds = time.time() - start_time
        return RunResult(run.output, float("nan"), float("nan"), run.total_epochs, seconds)
    if run.start_epoch >= run.total_epochs:
        test_acc = float(read_training_checkpoint(run.output / LAST)["test_acc"])
    student = run.models.student.model
    _save_model(run.output / "model.pt", student, run.arch, run.config.data.dataset, test_acc)
    return RunResult(run.output, test_acc, run.best, run.total_epochs, time.time() - start_time)


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


def _network(config: Config, name: str, weights: Optional[str] = None) -> nn.Module:
    """The network ``name`` for the configured dataset, with ``weights`` when given, in
    channels-last format (``run.channels_last``) and compiled (``run.compile``)."""
    data = config.data
    network = build_model(name, data.dataset, data.root, data.image_size)
    if weights is not None:
        load_checkpoint(network, str(weights))
    if config.run.channels_last:
        network = network.to(memory_format=torch.channels_last)
    if config.run.compile:
        network.compile()
    return network


def _frozen_teacher(
    config: Config, arch: str, weights: Optional[str], device: torch.device
) -> TappedModel:
    """Network ``arch`` with its trained ``weights`` (a checkpoint, or ``None`` for a
    network named with pretrained weights), tapped, in eval mode, without gradients."""
    _check_model(arch)
    teacher = tap(_network(config, arch, weights)).to(device).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


def _create_distiller(
    config: Config,
    train_set: Dataset,
    student: TappedModel,
    teachers: List[TappedModel],
    device: torch.device,
) -> Optional[nn.Module]:
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


def _resume_path(resume: Union[bool, str], output: Path) -> Optional[Path]:
    if resume is False or resume is None:
        return None
    if resume is True:
        return output / LAST
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; pass an existing last.pt or previous.pt")
    return path


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


def _check_method(name: str) -> None:
    valid = [CROSS_ENTROPY, *list_methods()]
    if name not in valid:
        raise ValueError(f"unknown method {name!r}; valid names: {', '.join(valid)}")


def _check_model(name: str) -> None:
    """Raise a ``ValueError`` listing the valid names for an unknown network name."""
    parse_network(name)
