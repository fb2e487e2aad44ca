"""One training epoch: the per-batch steps of the student and of distiller-only stages.

A student step feeds the batch to the frozen teachers (each its own view, see
:mod:`graphkd.engine.training_views`) and to the student, and minimises

.. math::
    \\mathcal{L} = w_{\\mathrm{ce}}\\, \\mathrm{CE}(z_s, y) + \\mathcal{L}_{\\mathrm{distill}}(R_t, R_s)

with cross-entropy on the virtual view too for methods that set ``ce_on_virtual_view``;
a distiller stage step minimises ``distiller.stage_loss(stage, teacher)``. Both return
the epoch's mean of every logged term.
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from typing import Any, Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from graphkd.data.device_batches import DeviceBatches
from graphkd.data.seeded_samples import SeededSamples
from graphkd.engine.config import Config
from graphkd.engine.distributed import DistributedContext
from graphkd.engine.global_batch import gather_responses
from graphkd.engine.training_views import split_views, teacher_inputs, teacher_responses
from graphkd.models import TappedModel
from graphkd.responses import Responses


def train_epoch(
    config: Config,
    epoch: int,
    train_set: Dataset,
    student: nn.Module,
    teachers: List[TappedModel],
    own_view: List[Optional[int]],
    distiller: Optional[nn.Module],
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    context: DistributedContext,
    progress: bool = False,
    label: str = "",
) -> Dict[str, float]:
    """One epoch of the student; teacher ``k`` sees its own view ``own_view[k]`` of
    each batch (see :func:`~graphkd.engine.training_views.training_transform`).
    ``progress``: a bar titled ``label`` (default ``epoch <epoch + 1>``) with the
    running mean loss."""
    data = config.data
    device = context.device
    loader = train_loader(config, epoch, train_set, context)
    total = len(loader) if data.limit_batches is None else min(len(loader), data.limit_batches)
    student.train()
    if distiller is not None:
        distiller.train()
    amp = config.run.amp
    autocast = (
        torch.autocast(
            device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16
        )
        if amp
        else nullcontext()
    )
    sums: Dict[str, Tensor] = {}
    bar = tqdm(
        loader, total=total, desc=label or f"epoch {epoch + 1}", leave=False, disable=not progress
    )
    method = distiller
    ce_on_virtual = bool(getattr(method, "ce_on_virtual_view", False))
    global_graphs = context.active and config.method.graph_batch == "global"
    for step, (images, labels, index) in enumerate(bar):
        if step >= total:
            break
        images, virtual, own = split_views(images, device)
        labels, index = labels.to(device), index.to(device)
        with autocast:
            s = student(images)
            ce = F.cross_entropy(s.logits, labels)
            if virtual is not None:
                s = dataclasses.replace(s, virtual=student(virtual))
                if ce_on_virtual:
                    ce = ce + F.cross_entropy(s.virtual.logits, labels)
            with torch.no_grad():
                t = [
                    teacher_responses(teacher, view, virtual)
                    for teacher, view in zip(teachers, teacher_inputs(images, own, own_view))
                ]
        values = {"ce": ce.detach()}
        optimizer.zero_grad(set_to_none=True)
        if distiller is not None:
            s32 = _float32(s, labels, index)
            t32 = _one_or_many([_float32(r, labels, index) for r in t])
            with torch.autocast(device.type, enabled=False):
                if global_graphs:
                    out = distiller(_gather_teachers(t32, context), gather_responses(s32, context))
                    out = {k: v * context.world_size if k == "loss" else v for k, v in out.items()}
                else:
                    out = distiller(t32, s32)
            weighted_ce = method.ce_weight * ce.float()
            loss = weighted_ce + out["loss"]
            values.update({k: v.detach() for k, v in out.items() if k != "loss"})
            if hasattr(method, "combine_gradients"):
                method.combine_gradients(
                    student.parameters(),
                    scaler.scale(weighted_ce),
                    scaler.scale(out["loss"]),
                    epoch,
                )
                if context.active:  # autograd.grad bypasses DDP's gradient hooks
                    context.average_gradients(student)
                    context.average_gradients(method)
            else:
                scaler.scale(loss).backward()
                if context.active:  # the student's DDP averages its own gradients
                    context.average_gradients(method)
        else:
            loss = ce
            scaler.scale(loss).backward()
        values["loss"] = loss.detach()
        scaler.step(optimizer)
        scaler.update()
        if hasattr(method, "after_step"):
            with torch.no_grad():
                method.after_step(t32, s32.detach())
        for key, value in values.items():
            sums[key] = sums[key] + value.float() if key in sums else value.float()
        if progress:
            _show_running_loss(bar, sums["loss"], step)
    steps = max(1, min(total, len(loader)))
    scale = steps * context.world_size
    means = {key: context.sum(value).item() / scale for key, value in sums.items()}
    return {"loss": means.pop("loss"), **means}


def train_distiller_epoch(
    config: Config,
    epoch: int,
    stage: str,
    train_set: Dataset,
    teachers: List[TappedModel],
    own_view: List[Optional[int]],
    distiller: nn.Module,
    optimizer: torch.optim.Optimizer,
    context: DistributedContext,
    progress: bool = False,
    label: str = "",
) -> Dict[str, float]:
    """One epoch of a distiller-only stage: ``distiller.stage_loss(stage, teacher)``
    (``progress``: a bar titled ``label`` with the running mean loss)."""
    if not teachers:
        raise ValueError(f"stage {stage!r} trains the method on a teacher; configure one")
    device = context.device
    loader = train_loader(config, epoch, train_set, context)
    limit = config.data.limit_batches
    total = len(loader) if limit is None else min(len(loader), limit)
    distiller.train()
    sums: Dict[str, Tensor] = {}
    bar = tqdm(
        loader, total=total, desc=label or f"{stage} {epoch + 1}", leave=False, disable=not progress
    )
    for step, (images, labels, index) in enumerate(bar):
        if step >= total:
            break
        images, _, own = split_views(images, device)
        labels, index = labels.to(device), index.to(device)
        views = teacher_inputs(images, own, own_view)
        with torch.no_grad():
            t32 = _one_or_many(
                [_float32(teacher(x), labels, index) for teacher, x in zip(teachers, views)]
            )
        out = distiller.stage_loss(stage, t32)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        if context.active:
            context.average_gradients(distiller)
        optimizer.step()
        for key, value in out.items():
            value = value.detach().float()
            sums[key] = sums[key] + value if key in sums else value
        if progress:
            _show_running_loss(bar, sums["loss"], step)
    steps = max(1, min(total, len(loader))) * context.world_size
    means = {key: context.sum(value).item() / steps for key, value in sums.items()}
    return {"loss": means.pop("loss"), **means}


def train_loader(
    config: Config, epoch: int, train_set: Dataset, context: DistributedContext
) -> DataLoader:
    """The epoch's shuffled training batches (this rank's share under DDP); a
    :class:`~graphkd.data.device_batches.DeviceBatches` set gives the batches of the same
    indices, made on its device."""
    if isinstance(train_set, DeviceBatches):
        in_process = dataclasses.replace(config, data=dataclasses.replace(config.data, workers=0))
        indices = _shuffled(in_process, epoch, range(len(train_set)), context)  # type: ignore[arg-type]
        return train_set.batches(indices, seed=config.run.seed * 100003 + epoch)  # type: ignore[return-value]
    if isinstance(train_set, SeededSamples):
        train_set.set_epoch(epoch)
    return _shuffled(config, epoch, train_set, context)


def _shuffled(
    config: Config, epoch: int, train_set: Dataset, context: DistributedContext
) -> DataLoader:
    data = config.data
    if context.active:
        sampler = DistributedSampler(
            train_set,
            num_replicas=context.world_size,
            rank=context.rank,
            shuffle=True,
            seed=config.run.seed,
            drop_last=True,
        )
        sampler.set_epoch(epoch)
        return DataLoader(
            train_set,
            batch_size=data.batch_size // context.world_size,
            sampler=sampler,
            drop_last=True,
            num_workers=data.workers,
        )
    generator = torch.Generator().manual_seed(config.run.seed * 100003 + epoch)
    return DataLoader(
        train_set,
        batch_size=data.batch_size,
        shuffle=True,
        drop_last=len(train_set) > data.batch_size,  # type: ignore[arg-type]
        num_workers=data.workers,
        generator=generator,
    )


#: Steps between updates of a bar's running loss (each reads the loss off the device).
_LOSS_EVERY = 10


def _show_running_loss(bar: Any, loss_sum: Tensor, step: int) -> None:
    """Show this rank's mean loss so far on the progress bar, every few steps."""
    if step % _LOSS_EVERY == 0:
        bar.set_postfix(loss=f"{loss_sum.item() / (step + 1):.4f}", refresh=False)


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
