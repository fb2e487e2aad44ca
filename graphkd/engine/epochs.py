"""One training epoch: the per-batch steps of the student and of distiller-only stages.

A student step feeds the batch to the frozen teachers (each its own view, see
:mod:`graphkd.engine.training_views`) and to the student, and minimises

.. math::
    \\mathcal{L} = w_{\\mathrm{ce}}\\, \\mathrm{CE}(z_s, y) + \\mathcal{L}_{\\mathrm{distill}}(R_t, R_s)

with cross-entropy on the virtual view too for methods that set ``ce_on_virtual_view``;
a distiller stage step minimises ``distiller.stage_loss(stage, teacher)``. Both return
the epoch's mean of every logged term. When the method checks its inputs (its
``check_inputs``, on by default), a NaN or Inf loss term stops the run with a
``ValueError`` naming the epoch, the step and the term; so does any other error the
method raises on a batch.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from graphkd.data.device_batches import DeviceBatches
from graphkd.data.seeded_samples import SeededSamples
from graphkd.distill import Distiller
from graphkd.distill.base import GradientStep
from graphkd.engine.config import Config, DataConfig, RunConfig
from graphkd.engine.distributed import DistributedContext
from graphkd.engine.global_batch import gather_responses
from graphkd.engine.training_views import split_views, teacher_inputs, teacher_responses
from graphkd.models import TappedModel
from graphkd.responses import Responses, check_finite

#: What a NaN or Inf loss term needs.
DIVERGED_FIX = (
    "the run diverged: lower optim.lr or the method's weights (method.options), then "
    "restart or resume from a checkpoint written before this epoch"
)


@dataclass(frozen=True)
class BatchOrder:
    """How an epoch deals out its training batches: the ``data`` section (batch size,
    workers, ``limit_batches``), the run's ``seed`` (``run.seed``) and the batches of one
    optimiser step (``optim.accumulate``)."""

    data: DataConfig
    seed: int
    accumulate: int = 1

    @classmethod
    def of(cls, config: Config) -> BatchOrder:
        """The order a run's config asks for."""
        return cls(config.data, config.run.seed, config.optim.accumulate)


@dataclass
class StudentStep:
    """What every step of one student epoch shares: the networks, the method, the
    optimiser and AMP scaler, the processes, the ``run`` section (autocast,
    channels-last), the method's ``graph_batch`` (graphs over this process's batch or
    every process's), the epoch's :class:`BatchOrder` and the epoch.

    Raises
    ------
    ValueError
        ``optim.accumulate > 1`` for a method that combines its gradients itself.
    """

    student: nn.Module
    teachers: List[TappedModel]
    own_view: List[Optional[int]]
    distiller: Optional[Distiller]
    optimizer: torch.optim.Optimizer
    scaler: Any
    context: DistributedContext
    run: RunConfig
    graph_batch: str
    order: BatchOrder
    epoch: int

    def __post_init__(self) -> None:
        if self.order.accumulate > 1 and self.distiller is not None:
            if self.distiller.combines_gradients:
                raise ValueError(
                    f"the method ({type(self.distiller).__name__}) combines its gradients "
                    "itself and cannot accumulate them; set optim.accumulate=1"
                )

    @property
    def autocast(self) -> Any:
        """Autocast as ``run.amp`` asks (see :func:`autocast_dtype`), or a context doing
        nothing."""
        return _autocast(self.run, self.context.device)

    @property
    def global_graphs(self) -> bool:
        """Whether the method's graphs span every process's batch."""
        return self.context.active and self.graph_batch == "global"


@dataclass
class StageStep:
    """What every step of one epoch of distiller-only stage ``stage`` shares: the frozen
    teachers and their views, the method, its optimiser, the processes, the epoch's
    :class:`BatchOrder` and the epoch."""

    teachers: List[TappedModel]
    own_view: List[Optional[int]]
    distiller: Distiller
    optimizer: torch.optim.Optimizer
    context: DistributedContext
    stage: str
    order: BatchOrder
    epoch: int


def train_epoch(
    step: StudentStep,
    train_set: Dataset,
    progress: bool = False,
    label: str = "",
) -> Dict[str, float]:
    """One epoch of the student over ``train_set`` (see :func:`train_loader`); teacher ``k``
    sees its own view ``step.own_view[k]`` of each batch (see
    :func:`~graphkd.engine.training_views.training_transform`). With
    ``optim.accumulate = a`` (``step.order``) the gradients of ``a`` consecutive batches, each loss
    divided by ``a``, add up before one optimiser step (under DDP they are averaged over
    the processes at the last of them only). ``progress``: a bar titled ``label``
    (default ``epoch <epoch + 1>``) with the running mean loss."""
    loader = train_loader(step.order, step.epoch, train_set, step.context)
    total = _batches(step.order.data, loader)
    step.student.train()
    if step.distiller is not None:
        step.distiller.train()
    bar = tqdm(
        loader,
        total=total,
        desc=label or f"epoch {step.epoch + 1}",
        leave=False,
        disable=not progress,
    )
    sums: Dict[str, Tensor] = {}
    for number, batch in enumerate(bar):
        if number >= total:
            break
        _add_to(sums, _student_step(step, number, total, batch))
        if progress:
            _show_running_loss(bar, sums["loss"], number, total)
    return _epoch_means(sums, total, step.context)


def _student_step(step: StudentStep, number: int, total: int, batch: Any) -> Dict[str, Tensor]:
    """Batch ``number`` of ``total``: forward, backward and, at the last batch of an
    optimiser step, the update; returns the batch's loss terms (detached)."""
    images, labels, index = batch
    images, virtual, own = split_views(images, step.context.device)
    if step.run.channels_last:
        images, virtual = _channels_last(images), _channels_last(virtual)
        own = [_channels_last(view) for view in own]
    labels, index = labels.to(step.context.device), index.to(step.context.device)
    accumulate = step.order.accumulate
    if number % accumulate == 0:
        step.optimizer.zero_grad(set_to_none=True)
    steps_now = (number + 1) % accumulate == 0 or number + 1 == total
    with _no_sync(step.student, skip=not steps_now):
        s, t, ce = _forward(step, images, virtual, own, labels)
        values = {"ce": ce.detach()}
        if step.distiller is not None:
            loss, s32, t32 = _distil(step, s, t, ce, labels, index, number, steps_now, values)
        else:
            loss = ce
            step.scaler.scale(loss / accumulate).backward()
    values["loss"] = loss.detach()
    if steps_now:
        step.scaler.step(step.optimizer)
        step.scaler.update()
    if step.distiller is not None:
        with torch.no_grad():
            step.distiller.after_step(t32, s32.detach())
    return values


def _forward(
    step: StudentStep,
    images: Tensor,
    virtual: Optional[Tensor],
    own: List[Tensor],
    labels: Tensor,
) -> Tuple[Responses, List[Responses], Tensor]:
    """The student's responses (with its virtual view's), the teachers' (without
    gradients, each on its view) and the student's cross-entropy (on the virtual view
    too for methods that set ``ce_on_virtual_view``), under autocast when asked."""
    distiller = step.distiller
    ce_on_virtual = distiller is not None and distiller.ce_on_virtual_view
    with step.autocast:
        s = step.student(images)
        ce = F.cross_entropy(s.logits, labels)
        if virtual is not None:
            s = dataclasses.replace(s, virtual=step.student(virtual))
            if ce_on_virtual:
                ce = ce + F.cross_entropy(s.virtual.logits, labels)
        with torch.no_grad():
            views = teacher_inputs(images, own, step.own_view)
            t = [
                teacher_responses(teacher, view, virtual)
                for teacher, view in zip(step.teachers, views)
            ]
    return s, t, ce


def _distil(
    step: StudentStep,
    s: Responses,
    t: List[Responses],
    ce: Tensor,
    labels: Tensor,
    index: Tensor,
    number: int,
    steps_now: bool,
    values: Dict[str, Tensor],
) -> Tuple[Tensor, Responses, Any]:
    """The method's loss on the float32 responses (outside autocast), its terms added to
    ``values``, and the backward the method combines from the weighted cross-entropy and
    its loss; under DDP the gradients the student's wrapper does not average are
    averaged here. Returns the total loss and the responses the method saw."""
    method, context, accumulate = step.distiller, step.context, step.order.accumulate
    assert method is not None
    s32 = _float32(s, labels, index)
    t32 = _one_or_many([_float32(r, labels, index) for r in t])
    with torch.autocast(context.device.type, enabled=False), _at_step(step.epoch, number):
        if step.global_graphs:
            out = method(_gather_teachers(t32, context), gather_responses(s32, context))
        else:
            out = method(t32, s32)
        weighted_ce = method.ce_weight * ce.float()
        loss = weighted_ce + out["loss"]
        if method.check_inputs:
            _check_losses({**out, "ce": ce, "loss": loss})
    values.update({k: v.detach() for k, v in out.items() if k != "loss"})
    method.combine_gradients(
        GradientStep(
            step.student.parameters(),
            step.scaler.scale(weighted_ce / accumulate),
            step.scaler.scale(out["loss"] / accumulate),
            step.epoch,
        )
    )
    if context.active and method.combines_gradients:
        # autograd.grad bypasses DDP's gradient hooks
        context.average_gradients(step.student)
        context.average_gradients(method)
    elif context.active and steps_now:  # the student's DDP averages its own
        context.average_gradients(method)
    return loss, s32, t32


def train_distiller_epoch(
    step: StageStep,
    train_set: Dataset,
    progress: bool = False,
    label: str = "",
) -> Dict[str, float]:
    """One epoch of a distiller-only stage: ``distiller.stage_loss(stage, teacher)``
    (``progress``: a bar titled ``label`` with the running mean loss)."""
    if not step.teachers:
        raise ValueError(f"stage {step.stage!r} trains the method on a teacher; configure one")
    context, distiller = step.context, step.distiller
    loader = train_loader(step.order, step.epoch, train_set, context)
    total = _batches(step.order.data, loader)
    distiller.train()
    sums: Dict[str, Tensor] = {}
    bar = tqdm(
        loader,
        total=total,
        desc=label or f"{step.stage} {step.epoch + 1}",
        leave=False,
        disable=not progress,
    )
    for number, (images, labels, index) in enumerate(bar):
        if number >= total:
            break
        images, _, own = split_views(images, context.device)
        labels, index = labels.to(context.device), index.to(context.device)
        views = teacher_inputs(images, own, step.own_view)
        with torch.no_grad():
            t32 = _one_or_many(
                [_float32(teacher(x), labels, index) for teacher, x in zip(step.teachers, views)]
            )
        with _at_step(step.epoch, number):
            out = distiller.stage_loss(step.stage, t32)
            if distiller.check_inputs:
                _check_losses(out)
        step.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        if context.active:
            context.average_gradients(distiller)
        step.optimizer.step()
        _add_to(sums, out)
        if progress:
            _show_running_loss(bar, sums["loss"], number, total)
    return _epoch_means(sums, total, context)


def train_loader(
    order: BatchOrder, epoch: int, train_set: Dataset, context: DistributedContext
) -> Iterable:
    """This process's training batches of ``epoch``: a :class:`DataLoader` over its share
    (see :func:`shuffled_batches`), or for a
    :class:`~graphkd.data.device_batches.DeviceBatches` set the batches of the same
    indices, made on its device. A :class:`~graphkd.data.SeededSamples` set is switched
    to the epoch's per-sample seeds first."""
    if isinstance(train_set, DeviceBatches):
        in_process = dataclasses.replace(order, data=dataclasses.replace(order.data, workers=0))
        indices = shuffled_batches(in_process, epoch, range(len(train_set)), context)  # type: ignore[arg-type]
        return train_set.batches(indices, seed=order.seed * 100003 + epoch)
    if isinstance(train_set, SeededSamples):
        train_set.set_epoch(epoch)
    return shuffled_batches(order, epoch, train_set, context)


def shuffled_batches(
    order: BatchOrder, epoch: int, train_set: Dataset, context: DistributedContext
) -> DataLoader:
    """This process's shuffled training batches of ``epoch``.

    A :class:`~torch.utils.data.DistributedSampler` (one replica for a single process)
    deals each process its share, reshuffled from the run's seed and the epoch, the same
    on every process and for every method. A batch holds
    ``data.batch_size / (processes * optim.accumulate)`` samples. Worker processes
    (``data.workers``) start anew each epoch, so that they see the epoch's per-sample
    seeds; on CUDA the batches come in pinned memory.

    Raises
    ------
    ValueError
        ``data.batch_size`` not divisible by processes times ``optim.accumulate``.
    """
    data = order.data
    parts = context.world_size * order.accumulate
    if data.batch_size % parts:
        raise ValueError(
            f"data.batch_size {data.batch_size} is the batch of one optimiser step and must "
            f"be divisible by {context.world_size} process(es) x optim.accumulate "
            f"{order.accumulate} = {parts}; change one of them"
        )
    batch = data.batch_size // parts
    sampler = DistributedSampler(
        train_set,
        num_replicas=context.world_size,
        rank=context.rank,
        shuffle=True,
        seed=order.seed,
        drop_last=context.active,
    )
    sampler.set_epoch(epoch)
    return DataLoader(
        train_set,
        batch_size=batch,
        sampler=sampler,
        drop_last=context.active or len(train_set) > batch,  # type: ignore[arg-type]
        num_workers=data.workers,
        pin_memory=context.device.type == "cuda",
    )


def autocast_dtype(run: RunConfig, device: torch.device) -> torch.dtype:
    """The type ``run.amp`` computes in: ``run.amp_dtype``, or for ``"auto"`` float16 on
    CUDA and bfloat16 elsewhere."""
    if run.amp_dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.bfloat16
    return getattr(torch, run.amp_dtype)


def _batches(data: DataConfig, loader: Any) -> int:
    """Batches of one epoch: the loader's, or ``data.limit_batches`` if fewer."""
    limit = data.limit_batches
    return len(loader) if limit is None else min(len(loader), limit)


def _autocast(run: RunConfig, device: torch.device) -> Any:
    """Autocast to :func:`autocast_dtype` under ``run.amp``, else a context doing nothing."""
    if run.amp:
        return torch.autocast(device.type, dtype=autocast_dtype(run, device))
    return nullcontext()


def _add_to(sums: Dict[str, Tensor], values: Dict[str, Tensor]) -> None:
    """Add a step's loss terms (detached, in float32) to the epoch's running ``sums``."""
    for key, value in values.items():
        value = value.detach().float()
        sums[key] = sums[key] + value if key in sums else value


def _epoch_means(
    sums: Dict[str, Tensor], total: int, context: DistributedContext
) -> Dict[str, float]:
    """The epoch's mean of every term over its ``total`` steps and every process, with
    ``"loss"`` first."""
    scale = max(1, total) * context.world_size
    means = {key: context.sum(value).item() / scale for key, value in sums.items()}
    return {"loss": means.pop("loss"), **means}


def _channels_last(images: Any) -> Any:
    """An image batch ``(B, C, H, W)`` in channels-last memory format (``None`` stays)."""
    if images is None or images.dim() != 4:
        return images
    return images.contiguous(memory_format=torch.channels_last)


def _no_sync(module: nn.Module, skip: bool) -> Any:
    """Inside: a DDP ``module`` does not average gradients (when ``skip``)."""
    if skip and isinstance(module, DistributedDataParallel):
        return module.no_sync()
    return nullcontext()


@contextmanager
def _at_step(epoch: int, step: int) -> Iterator[None]:
    """Prefix a ``ValueError`` raised on a batch with its (1-based) epoch and step."""
    try:
        yield
    except ValueError as error:
        raise ValueError(f"epoch {epoch + 1}, step {step + 1}: {error}") from error


def _check_losses(terms: Dict[str, Tensor]) -> None:
    """Stop a diverged run: name the first NaN or Inf loss term (``"loss"`` last)."""
    ordered = {name: terms[name] for name in sorted(terms, key=lambda name: name == "loss")}
    check_finite(
        {f"loss term {name!r}": value.detach() for name, value in ordered.items()}, DIVERGED_FIX
    )


#: Steps between updates of a bar's running loss (each reads the loss off the device).
_LOSS_EVERY = 10


def _show_running_loss(bar: Any, loss_sum: Tensor, step: int, total: int) -> None:
    """Show this rank's mean loss so far on the progress bar, every few steps and at the
    epoch's last step (nothing is read off the device without a bar)."""
    if getattr(bar, "disable", False):
        return
    if step % _LOSS_EVERY == 0 or step == total - 1:
        bar.set_postfix(loss=f"{loss_sum.item() / (step + 1):.4f}")


def _float32(responses: Responses, labels: Tensor, index: Tensor) -> Responses:
    """Responses in float32 (graph code stays out of autocast), with labels and indices."""
    return dataclasses.replace(responses.map(lambda x: x.float()), labels=labels, index=index)


def _gather_teachers(
    teachers: Union[Responses, List[Responses], None], context: DistributedContext
) -> Union[Responses, List[Responses], None]:
    if isinstance(teachers, list):
        return [gather_responses(t, context) for t in teachers]
    return gather_responses(teachers, context)


def _one_or_many(responses: List[Responses]) -> Union[Responses, List[Responses], None]:
    """What a distiller takes: one teacher's responses, an ensemble's list, or none."""
    if not responses:
        return None
    return responses[0] if len(responses) == 1 else responses
