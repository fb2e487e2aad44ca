"""What updates a run's weights: SGD with its multi-step schedule for the student's
stage, the distiller-only stages' SGD and the AMP gradient scaler, and the scheduler's
state in the form checkpoints store."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch

from graphkd.engine.config import OptimConfig, RunConfig
from graphkd.engine.epochs import autocast_dtype
from graphkd.engine.run_models import RunModels


@dataclass
class RunOptimizers:
    """SGD and its schedule for the student's stage, the distiller-only stages' SGD
    (``None`` without such stages) and the AMP gradient scaler."""

    optimizer: torch.optim.Optimizer
    scheduler: Any
    stage_optimizer: Optional[torch.optim.Optimizer]
    scaler: Any


def build_optimizers(
    optim: OptimConfig, run: RunConfig, models: RunModels, device: torch.device
) -> RunOptimizers:
    """SGD with a multi-step schedule over the student's (and the distiller's) trainable
    parameters; distiller-only stages (e.g. MHGD's attention networks) get an SGD of
    their own without weight decay, since their losses carry their own regularisation."""
    distiller = models.distiller
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
    float16 = autocast_dtype(run, device) == torch.float16
    scaler = _grad_scaler(device, enabled=run.amp and float16 and device.type == "cuda")
    return RunOptimizers(optimizer, scheduler, stage_optimizer, scaler)


def _grad_scaler(device: torch.device, enabled: bool) -> Any:
    """An AMP gradient scaler (``torch.amp.GradScaler`` arrived in torch 2.3)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def scheduler_state_for_checkpoint(state: Dict[str, Any]) -> Dict[str, Any]:
    """MultiStepLR keeps its milestones in a Counter, which ``torch.load(weights_only=True)``
    refuses before torch 2.4; checkpoints store a plain dict."""
    return {**state, "milestones": dict(state["milestones"])}


def scheduler_state_from_checkpoint(state: Dict[str, Any]) -> Dict[str, Any]:
    """The scheduler state a checkpoint stores, with its milestones a Counter again."""
    return {**state, "milestones": collections.Counter(state["milestones"])}
