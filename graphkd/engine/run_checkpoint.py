"""A run's checkpoints and its resume: ``last.pt`` after every epoch (everything a resume
restores), ``model.pt`` with the final weights, what a saved file records, and the
restore, checked to fit the run and agreed on by every rank."""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from graphkd.engine.checkpoint import save_training_checkpoint, saved_options, set_rng_state
from graphkd.engine.config import Config, config_to_dict
from graphkd.engine.distributed import DistributedContext
from graphkd.engine.optimizers import (
    scheduler_state_for_checkpoint,
    scheduler_state_from_checkpoint,
)
from graphkd.engine.run_checks import ResumePoint, check_run
from graphkd.engine.run_models import network_options
from graphkd.engine.run_request import RunRequest

if TYPE_CHECKING:
    from graphkd.engine.run_state import Run


def save_checkpoint(run: Run, epoch: int, rng: List[Any]) -> None:
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
        "scheduler": scheduler_state_for_checkpoint(optimizers.scheduler.state_dict()),
        "scaler": optimizers.scaler.state_dict(),
        "stage_optimizer": None if stage_optimizer is None else stage_optimizer.state_dict(),
        "rng": rng[0],
        "rng_ranks": rng if run.context.active else [],
        "config": config_to_dict(run.config),
    }
    save_training_checkpoint(state, run.output)


def save_final_model(run: Run) -> None:
    """``model.pt``: the student's final weights with its network (name and constructor
    options), dataset and accuracy."""
    student, arch = run.models.student.model, run.request.arch
    options = network_options(run.config.model, arch)
    _save_model(
        run.output / "model.pt", student, arch, run.config.data.dataset, run.test_acc, options
    )


def _save_model(
    path: Path,
    model: nn.Module,
    arch: str,
    dataset: str,
    test_acc: float,
    options: Optional[Dict[str, Any]] = None,
) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    state = {
        "format": "graphkd",
        "model": copy.deepcopy(model.state_dict()),
        "arch": arch,
        "options": dict(options or {}),
        "dataset": dataset,
        "test_acc": test_acc,
    }
    torch.save(state, temporary)
    os.replace(temporary, path)


def recorded_model(checkpoint: Union[str, os.PathLike[str]]) -> Tuple[Optional[str], Optional[str]]:
    """The architecture and dataset a graphkd ``model.pt`` or ``last.pt`` records
    (``None`` for what a file does not record, e.g. a plain state dict).

    Raises
    ------
    FileNotFoundError
        No file at ``checkpoint``.
    """
    saved = _saved_record(checkpoint)
    if saved is None:
        return None, None
    config = saved.get("config") or {}
    arch = saved.get("arch")
    dataset = saved.get("dataset") or config.get("data", {}).get("dataset")
    return (
        arch if isinstance(arch, str) else None,
        dataset if isinstance(dataset, str) else None,
    )


def recorded_options(checkpoint: Union[str, os.PathLike[str]]) -> Dict[str, Any]:
    """The constructor options of the network a graphkd ``model.pt`` or ``last.pt``
    records (``model.network_options`` of its run); empty when it records none.

    Raises
    ------
    FileNotFoundError
        No file at ``checkpoint``.
    """
    saved = _saved_record(checkpoint)
    return {} if saved is None else saved_options(saved)


def _saved_record(checkpoint: Union[str, os.PathLike[str]]) -> Optional[Dict[str, Any]]:
    """The dict a checkpoint file holds (``None`` for anything else, e.g. a bare tensor);
    a ``FileNotFoundError`` naming the fix when there is no file."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; give a model.pt or last.pt")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return saved if isinstance(saved, dict) else None


def restore(run: Run, resume_from: Optional[ResumePoint], log: Callable[[str], None]) -> None:
    """Continue from the checkpoint ``resume_from`` (weights, optimisers, scaler,
    generators, epoch, accuracies); a checkpoint that does not fit is refused with
    the part that differs."""
    if resume_from is None:
        return
    path, state = resume_from
    if state is None:
        if run.context.is_main:
            log(f"no checkpoint at {path}; starting from scratch")
        return
    for part, load in _state_parts(run, state):
        try:
            load()
        except (RuntimeError, ValueError, KeyError, TypeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ValueError(
                f"checkpoint {path} does not fit this run's {part} ({first}); resume with "
                f"the config it was saved with (config.yaml beside it)"
            ) from None
    context = run.context
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
        log(f"resumed from {path} after epoch {run.start_epoch}; {rest}")


def _state_parts(run: Run, state: Any) -> List[Tuple[str, Callable[[], Any]]]:
    """Each part of the run a checkpoint restores, named, with the call that loads it."""
    models, optimizers = run.models, run.optimizers
    parts: List[Tuple[str, Callable[[], Any]]] = [
        ("model", lambda: models.student.model.load_state_dict(state["model"])),
        ("optimizer", lambda: optimizers.optimizer.load_state_dict(state["optimizer"])),
        (
            "scheduler",
            lambda: optimizers.scheduler.load_state_dict(
                scheduler_state_from_checkpoint(state["scheduler"])
            ),
        ),
        ("scaler", lambda: optimizers.scaler.load_state_dict(state["scaler"])),
    ]
    distiller = models.distiller
    if distiller is not None:
        parts.append(("distiller", lambda: distiller.load_state_dict(state["distiller"])))
    stage_optimizer = optimizers.stage_optimizer
    if stage_optimizer is not None:
        parts.append(
            ("stage_optimizer", lambda: stage_optimizer.load_state_dict(state["stage_optimizer"]))
        )
    return parts


def checked_on_every_rank(
    config: Config, request: RunRequest, context: DistributedContext
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
