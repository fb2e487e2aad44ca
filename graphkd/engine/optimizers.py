"""What updates a run's weights: the student's optimiser (SGD or AdamW) with its
learning-rate schedule (multi-step, or cosine with a linear warm-up), the
distiller-only stages' SGD and the AMP gradient scaler, and the scheduler's state in the
form checkpoints store."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from graphkd.engine.config import OptimConfig, RunConfig
from graphkd.engine.epochs import autocast_dtype
from graphkd.engine.run_models import RunModels


@dataclass
class RunOptimizers:
    """The optimiser and its schedule for the student's stage, the distiller-only stages' SGD
    (``None`` without such stages) and the AMP gradient scaler."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    stage_optimizer: Optional[torch.optim.Optimizer]
    scaler: Any


def build_optimizers(
    optim: OptimConfig, run: RunConfig, models: RunModels, device: torch.device
) -> RunOptimizers:
    """``optim.optimizer`` with ``optim.schedule`` over the student's (and the
    distiller's) trainable parameters; distiller-only stages (e.g. MHGD's attention
    networks) get an SGD of their own without weight decay, since their losses carry
    their own regularisation."""
    distiller = models.distiller
    named = [(n, p) for n, p in models.student.named_parameters() if p.requires_grad]
    if distiller is not None:
        named += [(n, p) for n, p in distiller.named_parameters() if p.requires_grad]
    trainable = parameter_groups(named, optim.weight_decay, optim.decay_all_parameters)
    optimizer: torch.optim.Optimizer
    if optim.optimizer == "adamw":
        optimizer = torch.optim.AdamW(trainable, lr=optim.lr, weight_decay=optim.weight_decay)
    else:
        optimizer = torch.optim.SGD(
            trainable,
            lr=optim.lr,
            momentum=optim.momentum,
            weight_decay=optim.weight_decay,
            nesterov=optim.nesterov,
        )
    scheduler: Any
    if optim.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: cosine_lr(optim, epoch) / optim.lr
        )
    else:
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
    float16 = autocast_dtype(run, device) == torch.float16
    scaler = _grad_scaler(device, enabled=run.amp and float16 and device.type == "cuda")
    return RunOptimizers(optimizer, scheduler, stage_optimizer, scaler)


def _grad_scaler(device: torch.device, enabled: bool) -> Any:
    """An AMP gradient scaler (``torch.amp.GradScaler`` arrived in torch 2.3)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


#: Parts of the names of a vision transformer's tokens and position embeddings.
TOKEN_NAMES = ("cls_token", "dist_token", "pos_embed")


def parameter_groups(
    named: List[Tuple[str, nn.Parameter]], weight_decay: float, decay_all: bool
) -> List[Dict[str, Any]]:
    """The optimiser's parameter groups: one with ``weight_decay`` for all of ``named``
    (``decay_all``), or that and one without it for the one-dimensional parameters,
    biases, tokens and position embeddings (:data:`TOKEN_NAMES`).

    Example
    -------
    >>> layer = nn.Linear(3, 2)
    >>> [len(g["params"]) for g in parameter_groups(list(layer.named_parameters()), 0.05, False)]
    [1, 1]
    """
    if decay_all:
        return [{"params": [p for _, p in named], "weight_decay": weight_decay}]
    kept = [p for n, p in named if not _exempt(n, p)]
    exempt = [p for n, p in named if _exempt(n, p)]
    return [{"params": kept, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0}]


def _exempt(name: str, parameter: nn.Parameter) -> bool:
    return parameter.ndim <= 1 or name.endswith(".bias") or any(t in name for t in TOKEN_NAMES)


def cosine_lr(optim: OptimConfig, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (from 0) under ``optim.schedule = "cosine"``:
    a linear warm-up from ``warmup_lr`` over ``warmup_epochs``, then the cosine from
    ``lr`` to ``min_lr`` over all ``epochs`` (the formula of
    :class:`~graphkd.engine.config.OptimConfig`); ``min_lr`` from ``epochs`` on.

    Example
    -------
    >>> from graphkd.engine.config import OptimConfig
    >>> optim = OptimConfig(lr=1.0, epochs=4, schedule="cosine", warmup_epochs=2, warmup_lr=0.2)
    >>> [round(cosine_lr(optim, e), 3) for e in range(5)]
    [0.2, 0.6, 0.5, 0.146, 0.0]
    """
    if epoch < optim.warmup_epochs:
        return optim.warmup_lr + epoch * (optim.lr - optim.warmup_lr) / optim.warmup_epochs
    if epoch >= optim.epochs:
        return optim.min_lr
    cosine = 1 + math.cos(math.pi * epoch / optim.epochs)
    return optim.min_lr + 0.5 * (optim.lr - optim.min_lr) * cosine


def scheduler_state_for_checkpoint(state: Dict[str, Any]) -> Dict[str, Any]:
    """MultiStepLR keeps its milestones in a Counter, which ``torch.load(weights_only=True)``
    refuses before torch 2.4; checkpoints store a plain dict. (The cosine schedule's
    LambdaLR state holds its epoch and base rates only; its rule comes from the config.)"""
    if "milestones" not in state:
        return dict(state)
    return {**state, "milestones": dict(state["milestones"])}


def scheduler_state_from_checkpoint(state: Dict[str, Any]) -> Dict[str, Any]:
    """The scheduler state a checkpoint stores, with MultiStepLR's milestones a Counter
    again."""
    if "milestones" not in state:
        return dict(state)
    return {**state, "milestones": collections.Counter(state["milestones"])}
